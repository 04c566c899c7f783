package auditcmd

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies pins that the read-only audit path links neither the
// embedded control plane of `mtscnctl demo` (etcd's server, kube-apiserver,
// pkg/devcluster) nor the scheduler and its plugins: audit reads the
// plugins' args through the config scheme only.
func TestDependencies(t *testing.T) {
	for _, pkg := range []string{".", ".."} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		for _, forbidden := range []string{
			"go.etcd.io/etcd/server/",
			"k8s.io/kubernetes/cmd/kube-apiserver",
			"k8s.io/kubernetes/cmd/kube-scheduler",
			"k8s.io/kubernetes/pkg/scheduler/framework/runtime",
			"k8s.io/kubernetes/pkg/scheduler/backend",
			"github.com/mtscn/mtscn/pkg/devcluster",
			"github.com/mtscn/mtscn/pkg/simulate",
			"github.com/mtscn/mtscn/pkg/schedulercmd",
			"github.com/mtscn/mtscn/pkg/plugins/tenantisolation",
			"github.com/mtscn/mtscn/pkg/plugins/sandboxoverhead",
			"github.com/mtscn/mtscn/pkg/plugins/sandboxfeatures",
		} {
			for _, d := range deps {
				if strings.HasPrefix(d, forbidden) || d == "k8s.io/kubernetes/pkg/scheduler" {
					t.Errorf("go list -deps %s: links %s", pkg, d)
					break
				}
			}
		}
		t.Logf("go list -deps %s: %d packages", pkg, len(deps))
	}
}
