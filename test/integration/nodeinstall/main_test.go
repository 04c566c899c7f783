// Package nodeinstall tests mtscn-node's Kata installer against a real
// kube-apiserver and etcd: the node is claimed before the host changes, kept
// tainted and unready until the install is verified, labelled and untainted
// after, and cleaned up on SIGTERM in DaemonSet mode. The host is a fixture
// tree; containerd's config is checked with the real `containerd config
// dump` when containerd is installed.
package nodeinstall

import (
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
