# Kata install/uninstall (issue 7, pkg/node/install). `make test` already runs
# the unit tests (fixture hosts, crash safety, the real containerd) and the
# real-apiserver tests (./test/integration/nodeinstall); these targets run
# them alone. The real-containerd checks skip with a message when the
# containerd binary is missing: `make install-containerd` installs Debian's.
.PHONY: install-containerd test-node-install bench-node-install

install-containerd:
	bash hack/install-containerd.sh

test-node-install: etcd install-containerd
	$(GO) test -count=1 ./pkg/node/install/
	$(GO) test -count=1 ./test/integration/nodeinstall/

# Cost of the DaemonSet's start on an installed node (nothing to do) and of
# planning containerd's files.
bench-node-install:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/node/install/
