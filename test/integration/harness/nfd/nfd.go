// Package nfd runs NFD's real nfd-master in an integration test's process
// against the harness's control plane (sigs.k8s.io/node-feature-discovery/pkg/nfd-master,
// the version go.mod pins: what NFD's nfd-master command and `make e2e`
// run). It is apart from the harness so that only the tests that need
// nfd-master link it.
package nfd

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	nfdclient "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned"
	nfdfeatures "sigs.k8s.io/node-feature-discovery/pkg/features"
	nfdmaster "sigs.k8s.io/node-feature-discovery/pkg/nfd-master"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// WriteKubeconfig writes a kubeconfig file for the control plane's admin
// credentials, for components that only take a path (nfd-master, `run
// --kubeconfig`).
func WriteKubeconfig(t testing.TB, cp *harness.ControlPlane) string {
	t.Helper()
	rc := cp.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.CAFile, CertificateAuthorityData: rc.CAData, TLSServerName: rc.ServerName}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: rc.BearerToken, ClientCertificateData: rc.CertData, ClientKeyData: rc.KeyData}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, file); err != nil {
		t.Fatal(err)
	}
	return file
}

var gatesOnce sync.Once

// StartMaster runs nfd-master in this process against the control plane,
// as the e2e runs it: no leader election, the default configuration,
// NODE_NAME = masterNode (a Node it annotates at start). It is stopped at
// t.Cleanup. The control plane needs NFD's CRDs (harness.NFDCRDs).
func StartMaster(t *testing.T, cp *harness.ControlPlane, masterNode string) {
	t.Helper()
	gatesOnce.Do(func() {
		if err := nfdfeatures.NFDMutableFeatureGate.Add(nfdfeatures.DefaultNFDFeatureGates); err != nil {
			t.Fatalf("NFD feature gates: %v", err)
		}
	})
	t.Setenv("NODE_NAME", masterNode)
	// An empty namespace selector selects every namespace, as the default
	// (none) does; v0.18.3's Stop dereferences the namespace lister that
	// only a selector creates.
	args := &nfdmaster.Args{Kubeconfig: WriteKubeconfig(t, cp), Options: `{"restrictions": {"nodeFeatureNamespaceSelector": {}}}`}
	m, err := nfdmaster.NewNfdMaster(nfdmaster.WithArgs(args))
	if err != nil {
		t.Fatalf("creating nfd-master: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run() }()
	select {
	case err := <-done:
		t.Fatalf("nfd-master stopped at start: %v", err)
	case <-time.After(time.Second):
	}
	t.Cleanup(func() {
		m.Stop()
		if err := <-done; err != nil {
			t.Errorf("nfd-master: %v", err)
		}
	})
}

// NewClient builds a NodeFeature client for cfg; NFD's types only speak
// JSON.
func NewClient(t testing.TB, cfg *rest.Config) nfdclient.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/json"
	c, err := nfdclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CreateRules creates the shipped nfd-rules/ as NodeFeatureRule objects.
func CreateRules(t testing.TB, ctx context.Context, c nfdclient.Interface) {
	t.Helper()
	rules, err := nfdrules.Load()
	if err != nil {
		t.Fatal(err)
	}
	for i := range rules {
		if _, err := c.NfdV1alpha1().NodeFeatureRules().Create(ctx, &rules[i], metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating NodeFeatureRule %s: %v", rules[i].Name, err)
		}
	}
}
