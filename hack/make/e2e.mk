# A real node on this machine (issue 13, test/e2e/README.md): the embedded
# control plane, kubelet v1.35.4, containerd + runc + gVisor, NFD's
# nfd-master, mtscn-node and mtscn-scheduler as processes, then the checks
# of test/e2e (build tag e2e). Needs root, cgroup v1 and the Debian
# packages of hack/install-e2e.sh. Not part of `make test`; .ci/run runs it
# after `make test`.
#   make e2e                  E2E_NODES=1|2 (2), E2E_CONTAINERD=mixed|1|2 (mixed: node 1
#                             on Debian's 1.6, node 2 on 2.x from make containerd2),
#                             E2E_KEEP=1 leaves everything running
#   make e2e-clean            remove what a kept or crashed run left behind
#   make e2e-tools            only build kubelet, nfd-master, runsc, the shim, the images
.PHONY: e2e e2e-clean e2e-tools

e2e: build containerd2
	bash hack/e2e/run.sh

e2e-clean:
	bash hack/e2e/clean.sh

e2e-tools:
	bash hack/e2e/build.sh
