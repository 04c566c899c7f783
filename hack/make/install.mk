# Sandbox runtime install/uninstall (pkg/node/install) and the containerd
# config-chain reader (pkg/node/containerd). `make test` already runs the
# unit tests (fixture hosts, the real `containerd config dump` of 1.6 and
# 2.x, crash safety, the real containerd daemon) and the real-apiserver
# tests (./test/integration/nodeinstall); these targets run them alone. The
# real-containerd checks skip with a message when a binary is missing:
# `make install-containerd` installs Debian's 1.6, `make containerd2` builds
# 2.x.
.PHONY: install-containerd test-node-install bench-node-install fuzz-node-containerd

install-containerd:
	bash hack/install-containerd.sh

test-node-install: etcd install-containerd containerd2
	$(GO) test -count=1 ./pkg/node/containerd/ ./pkg/node/install/ ./cmd/mtscn-node/
	$(GO) test -count=1 ./test/integration/nodeinstall/

# Go native fuzzing of the containerd TOML and config-chain parsers, a short
# fixed time each (FUZZTIME=1m for longer).
FUZZTIME ?= 10s
fuzz-node-containerd:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/node/containerd/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./pkg/node/containerd/

# Cost of the DaemonSet's start on an installed node (nothing to do) and of
# planning containerd's files.
bench-node-install:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/node/install/

# `make install`: the three binaries into $(DESTDIR)$(PREFIX)/bin, and
# mtscnctl a second time as the kubectl plugin kubectl-mtscn (a symlink), so
# that `kubectl mtscn audit --context CTX` works with the user's kubeconfig
# (cmd/mtscnctl/README.md). install-files installs what bin/ holds without
# building (INSTALL_BINS picks the binaries).
PREFIX ?= /usr/local
INSTALL_BINS ?= mtscn-scheduler mtscn-node mtscnctl
.PHONY: install install-files

install: build
	$(MAKE) --no-print-directory install-files

install-files:
	install -d "$(DESTDIR)$(PREFIX)/bin"
	for b in $(INSTALL_BINS); do install -m 0755 "$(BIN)/$$b" "$(DESTDIR)$(PREFIX)/bin/$$b" || exit 1; done
	@if [[ " $(INSTALL_BINS) " == *" mtscnctl "* ]]; then \
	  ln -sfn mtscnctl "$(DESTDIR)$(PREFIX)/bin/kubectl-mtscn" && echo "kubectl-mtscn -> mtscnctl in $(DESTDIR)$(PREFIX)/bin (kubectl mtscn audit)"; fi
