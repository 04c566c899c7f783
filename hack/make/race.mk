# Race detector on the integration tests that drive the real scheduler in
# this process (issue 15 item 11): TenantIsolation's rules and the short
# randomized scenarios run kube-scheduler with all of mtscn's plugins
# against the real kube-apiserver, with preemption, nominated pods, and
# Namespace, Node and RuntimeClass events racing the scheduling cycles. It
# is part of `make test`. The race build of kube-apiserver and the
# scheduler takes long once (the build cache keeps it); the other
# integration packages run without -race in test-integration.
.PHONY: test-race-integration

test: test-race-integration

test-race-integration: etcd
	$(GO) test -race -count=1 -timeout 30m ./test/integration/tenantisolation/
