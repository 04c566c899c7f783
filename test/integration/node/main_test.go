// Package node tests mtscn-node's publishing against a real kube-apiserver
// and etcd with NFD's CRDs installed: NodeFeature create / no-op / update,
// the node-labels fallback, and the shipped RBAC.
package node

import (
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
