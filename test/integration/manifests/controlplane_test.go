package manifests

import (
	"context"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/test/integration/framework"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// startControlPlane starts a kube-apiserver with its full server chain
// (the apiextensions server included, so CRDs are served), RBAC and Node
// authorization, and the default admission plugins minus those that need
// controllers (as harness.StartControlPlane). flags are extra
// kube-apiserver flags (feature gates, runtime-config). The returned
// ControlPlane works with the harness helpers; it stops at t.Cleanup.
func startControlPlane(t *testing.T, flags ...string) *harness.ControlPlane {
	t.Helper()
	flags = append([]string{
		"--authorization-mode=Node,RBAC",
		// The node agent is a privileged DaemonSet.
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
	}, flags...)
	server := kubeapiservertesting.StartTestServerOrDie(t, nil, flags, framework.SharedEtcd())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		server.TearDownFn()
	})
	cfg := rest.CopyConfig(server.ClientConfig)
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return &harness.ControlPlane{Client: client, Config: cfg, Ctx: ctx}
}
