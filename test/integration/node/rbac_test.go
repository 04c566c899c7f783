package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	nfdclient "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/mtscn/mtscn/pkg/node/agent"
	"github.com/mtscn/mtscn/test/integration/harness"
	nfdharness "github.com/mtscn/mtscn/test/integration/harness/nfd"
)

// The two node ServiceAccounts of manifests/node-agent: discovery and
// publishing, and the sandbox runtime installer.
const (
	agentSA     = "system:serviceaccount:mtscn-system:mtscn-node"
	installerSA = "system:serviceaccount:mtscn-system:mtscn-node-install"
)

// applyRBAC creates the objects of the RBAC manifest at path (relative to
// the repository).
func applyRBAC(t *testing.T, cp *harness.ControlPlane, rel string) {
	t.Helper()
	path := filepath.Join(harness.RepoRoot(), rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, c := cp.Ctx, cp.Client
	for _, doc := range harness.SplitYAML(data) {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding %s: %v", path, err)
		}
		switch o := obj.(type) {
		case *v1.ServiceAccount:
			_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = c.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("%s: unexpected object %T", path, obj)
		}
		if err != nil {
			t.Fatalf("applying %s: %v", path, err)
		}
	}
}

// impersonate returns clients acting as the ServiceAccount user.
func impersonate(t *testing.T, cp *harness.ControlPlane, user string) (kubernetes.Interface, nfdclient.Interface) {
	t.Helper()
	sa := rest.CopyConfig(cp.Config)
	sa.Impersonate = rest.ImpersonationConfig{
		UserName: user,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:mtscn-system", "system:authenticated"},
	}
	kube, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	return kube, nfdharness.NewClient(t, sa)
}

// wantForbidden runs each call and expects 403 Forbidden.
func wantForbidden(t *testing.T, who string, calls map[string]func() error) {
	t.Helper()
	for name, call := range calls {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %s: want Forbidden, got %v", who, name, err)
		}
	}
}

// TestRBAC impersonates the two node ServiceAccounts with the shipped RBAC
// (manifests/node-agent/rbac.yaml, plus components/node-labels for the
// agent's fallback mode): the agent can write its NodeFeatures in
// mtscn-system, record Events and (with the component) label Nodes and
// patch their status (capacity) but not update it; the
// installer can update Nodes and record Events; neither can do the other's
// job or anything else.
func TestRBAC(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := startControlPlaneWithCRDs(t)
	cp.CreateNamespace(t, namespace, nil)
	cp.CreateNamespace(t, "tenant-a", nil)
	cp.CreateNode(t, st.MakeNode().Name("worker-4").Obj())
	applyRBAC(t, cp, "manifests/node-agent/rbac.yaml")
	kube, nfd := impersonate(t, cp, agentSA)
	installerKube, installerNFD := impersonate(t, cp, installerSA)

	// Allowed: what the agent does. RBAC propagates asynchronously into
	// the authorizer's cache: retry the first call.
	cfg := agent.DefaultConfig()
	cfg.NodeName = "worker-4"
	var publishErr error
	for range 50 {
		if publishErr = newAgent(t, cfg, nfd, kube, &fixture{name: "intel-qat-baremetal"}).RunOnce(ctx); publishErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if publishErr != nil {
		t.Fatalf("the agent cannot create its NodeFeature with the shipped RBAC: %v", publishErr)
	}
	if err := newAgent(t, cfg, nfd, kube, &fixture{name: "amd-sev-snp"}).RunOnce(ctx); err != nil {
		t.Errorf("the agent cannot update its NodeFeature with the shipped RBAC: %v", err)
	}
	event := func(reason string) *v1.Event {
		return &v1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "worker-4.", Namespace: metav1.NamespaceDefault},
			InvolvedObject: v1.ObjectReference{Kind: "Node", Name: "worker-4"},
			Reason:         reason, Message: "m", Type: v1.EventTypeWarning,
		}
	}
	if _, err := kube.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, event("KVMUnusable"), metav1.CreateOptions{}); err != nil {
		t.Errorf("the agent cannot record Events about its Node: %v", err)
	}
	// The default install grants the agent nothing on Nodes.
	cfg.Publish = agent.PublishNodeLabels
	if err := newAgent(t, cfg, nfd, kube, &fixture{name: "intel-qat-baremetal"}).RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("node-labels mode without components/node-labels: want forbidden, got %v", err)
	}
	applyRBAC(t, cp, "manifests/components/node-labels/rbac.yaml")
	var labelErr error
	for range 50 {
		if labelErr = newAgent(t, cfg, nfd, kube, &fixture{name: "intel-qat-baremetal"}).RunOnce(ctx); labelErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if labelErr != nil {
		t.Errorf("the agent cannot label its Node with components/node-labels: %v", labelErr)
	}
	// node-labels mode also set the node's capacity (nodes/status patch).
	if n, err := cp.Client.CoreV1().Nodes().Get(ctx, "worker-4", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if _, ok := n.Status.Capacity["mtscn.io/sandboxes"]; !ok {
		t.Errorf("node-labels mode with components/node-labels did not set the capacity: %v", n.Status.Capacity)
	}

	// Allowed: what the installer does (pkg/node/install): update its
	// Node's labels and taints, and record Events about it.
	node, err := installerKube.CoreV1().Nodes().Get(ctx, "worker-4", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the installer cannot read its Node: %v", err)
	}
	node.Labels["mtscn.io/sandbox-runtime"] = "pending"
	if _, err := installerKube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Errorf("the installer cannot update its Node with the shipped RBAC: %v", err)
	}
	if _, err := installerKube.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, event("KataInstalling"), metav1.CreateOptions{}); err != nil {
		t.Errorf("the installer cannot record Events with the shipped RBAC: %v", err)
	}

	// Forbidden: everything else.
	nf := &nfdv1alpha1.NodeFeature{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	common := func(kube kubernetes.Interface, nfd nfdclient.Interface) map[string]func() error {
		return map[string]func() error{
			"create NodeFeature in another namespace": func() error {
				_, err := nfd.NfdV1alpha1().NodeFeatures("tenant-a").Create(ctx, nf, metav1.CreateOptions{})
				return err
			},
			"delete NodeFeature": func() error {
				return nfd.NfdV1alpha1().NodeFeatures(namespace).Delete(ctx, agent.NodeFeatureName("worker-4"), metav1.DeleteOptions{})
			},
			"list NodeFeatures in all namespaces": func() error {
				_, err := nfd.NfdV1alpha1().NodeFeatures("").List(ctx, metav1.ListOptions{})
				return err
			},
			"create NodeFeatureRule": func() error {
				_, err := nfd.NfdV1alpha1().NodeFeatureRules().Create(ctx, &nfdv1alpha1.NodeFeatureRule{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
				return err
			},
			"list secrets in mtscn-system": func() error {
				_, err := kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
				return err
			},
			"create configmap in mtscn-system": func() error {
				_, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
				return err
			},
			"create event in a tenant namespace": func() error {
				_, err := kube.CoreV1().Events("tenant-a").Create(ctx, &v1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}, InvolvedObject: v1.ObjectReference{Kind: "Pod", Name: "x", Namespace: "tenant-a"}}, metav1.CreateOptions{})
				return err
			},
			"list pods": func() error {
				_, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
				return err
			},
			"list nodes": func() error {
				_, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				return err
			},
			"delete node": func() error {
				return kube.CoreV1().Nodes().Delete(ctx, "worker-4", metav1.DeleteOptions{})
			},
			"patch node status": func() error {
				_, err := kube.CoreV1().Nodes().Patch(ctx, "worker-4", types.MergePatchType,
					[]byte(`{"status":{"capacity":{"mtscn.io/sandboxes":"1000"}}}`), metav1.PatchOptions{}, "status")
				return err
			},
			"create RuntimeClass": func() error {
				_, err := kube.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "kata-x"}, Handler: "kata-x"}, metav1.CreateOptions{})
				return err
			},
		}
	}
	agentForbidden := common(kube, nfd)
	// The agent reads its node's pods and the RuntimeClasses to measure each
	// sandbox's host overhead (pkg/node/overhead): read-only, and RBAC cannot
	// narrow a list to one node's pods.
	delete(agentForbidden, "list pods")
	// With components/node-labels the agent patches its Node's status (its
	// extended resources, pkg/node/agent): nothing else on the status.
	delete(agentForbidden, "patch node status")
	agentForbidden["update node status"] = func() error {
		n, err := cp.Client.CoreV1().Nodes().Get(ctx, "worker-4", metav1.GetOptions{})
		if err != nil {
			return err
		}
		_, err = kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	}
	agentForbidden["update node (the installer's verb)"] = func() error {
		n, err := cp.Client.CoreV1().Nodes().Get(ctx, "worker-4", metav1.GetOptions{})
		if err != nil {
			return err
		}
		_, err = kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	}
	wantForbidden(t, "agent", agentForbidden)
	installerForbidden := common(installerKube, installerNFD)
	installerForbidden["create NodeFeature (the agent's job)"] = func() error {
		_, err := installerNFD.NfdV1alpha1().NodeFeatures(namespace).Create(ctx, &nfdv1alpha1.NodeFeature{ObjectMeta: metav1.ObjectMeta{Name: agent.NodeFeatureName("worker-4")}}, metav1.CreateOptions{})
		return err
	}
	installerForbidden["get NodeFeature"] = func() error {
		_, err := installerNFD.NfdV1alpha1().NodeFeatures(namespace).Get(ctx, agent.NodeFeatureName("worker-4"), metav1.GetOptions{})
		return err
	}
	installerForbidden["patch node (the agent's verb)"] = func() error {
		_, err := installerKube.CoreV1().Nodes().Patch(ctx, "worker-4", types.MergePatchType, []byte(`{"metadata":{"labels":{"mtscn.io/x":"y"}}}`), metav1.PatchOptions{})
		return err
	}
	wantForbidden(t, "installer", installerForbidden)
}
