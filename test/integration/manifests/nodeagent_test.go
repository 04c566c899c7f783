package manifests

import (
	"context"
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// The node side runs as two ServiceAccounts (manifests/node-agent): the
// discovery agent and the sandbox runtime installer.
const nodeInstallSA = "system:serviceaccount:mtscn-system:mtscn-node-install"

// updateWithPatch applies a JSON merge patch to the Node the way the
// installer changes it: get, change, update (its RBAC has no patch).
func updateWithPatch(t *testing.T, ctx context.Context, c kubernetes.Interface, name string, patch []byte) error {
	t.Helper()
	node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur, err := json.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := jsonpatch.MergePatch(cur, patch)
	if err != nil {
		t.Fatal(err)
	}
	var updated v1.Node
	if err := json.Unmarshal(patched, &updated); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().Nodes().Update(ctx, &updated, metav1.UpdateOptions{})
	return err
}

var nodeFeatureGVR = schema.GroupVersionResource{Group: "nfd.k8s-sigs.io", Version: "v1alpha1", Resource: "nodefeatures"}

// TestNodeServiceAccountsConfinedToTheirNode impersonates the installer's
// and the agent's ServiceAccounts with the node name their projected token
// carries, and checks that the shipped RBAC plus the mtscn-node-own-node
// policy let each change only its own Node, and only what it owns: the
// installer its labels and startup taint, the agent (node-labels mode, an
// optional component) only the labels nfd-rules/ produce and, in the
// status, the two extended resources they produce.
func TestNodeServiceAccountsConfinedToTheirNode(t *testing.T) {
	cp := installDefault(t)
	// The default install has no node-labels component: grant what it
	// would, so that the policy (not RBAC) is what is tested for the agent.
	applier, err := NewApplier(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(cp.Ctx, render(t, manifestsDir()+"/components/node-labels"), false); err != nil {
		t.Fatalf("components/node-labels: %v", err)
	}
	on := func(user, node string) kubernetes.Interface {
		_, c := as(t, cp, serviceAccount(user, map[string][]string{nodeNameExtra: {node}}))
		return c
	}
	installerA := on(nodeInstallSA, "node-a")
	agentA := on(nodeAgentSA, "node-a")
	_, tokenWithoutNode := as(t, cp, serviceAccount(nodeInstallSA, nil))

	resetNodes := func(t *testing.T) {
		t.Helper()
		for _, name := range []string{"node-a", "node-b"} {
			err := cp.Client.CoreV1().Nodes().Delete(cp.Ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			cp.CreateNode(t, st.MakeNode().Name(name).
				Label("mtscn.io/kvm", "false").Label(kataRuntimeKey, "false").Label("kubernetes.io/hostname", name).
				Label("mtscn.io/runtime.runsc", "true"). // discovery's
				Taints([]v1.Taint{{Key: startupTaint, Effect: v1.TaintEffectNoSchedule}, {Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}).
				Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "16Gi"}).Obj())
		}
	}
	resetNodes(t)
	waitForDenial(t, cp.Ctx, "mtscn-node-own-node", func(ctx context.Context) error {
		_, err := agentA.CoreV1().Nodes().Patch(ctx, "node-b", types.MergePatchType, []byte(`{"metadata":{"labels":{"mtscn.io/kvm":"true"}}}`), dryRun)
		return err
	})

	type m = map[string]any
	const installerLabels = "mtscn-node-install may only change the labels it owns (mtscn.io/sandbox-runtime, katacontainers.io/kata-runtime), not "
	const agentLabels = "mtscn-node may only change the labels it owns (mtscn.io/kvm, mtscn.io/virt-mode, mtscn.io/iommu, mtscn.io/qat-vfio, mtscn.io/cotenancy-safe, mtscn.io/runtime.*, mtscn.io/kata.*, mtscn.io/overhead.*), not "
	tests := []struct {
		name    string
		client  kubernetes.Interface
		node    string
		patch   m
		wantErr string
		// status patches the status subresource (node-labels mode's
		// extended resources).
		status bool
		// check reads the node after a successful patch.
		check func(*v1.Node) string
	}{
		{
			name:   "installer: own node, its labels",
			client: installerA, node: "node-a",
			patch: m{"metadata": m{"labels": m{"mtscn.io/sandbox-runtime": "true", kataRuntimeKey: "true"}}},
			check: func(n *v1.Node) string {
				return cmp.Diff(map[string]string{"mtscn.io/kvm": "false", "mtscn.io/sandbox-runtime": "true", kataRuntimeKey: "true", "kubernetes.io/hostname": "node-a", "mtscn.io/runtime.runsc": "true"}, n.Labels)
			},
		},
		{
			// Discovery is the one writer of mtscn.io/runtime.*
			// (docs/node-agent.md#one-writer-per-label).
			name:   "installer: set a runtime label",
			client: installerA, node: "node-a",
			patch:   m{"metadata": m{"labels": m{"mtscn.io/runtime.kata-qemu": "true"}}},
			wantErr: installerLabels + "mtscn.io/runtime.kata-qemu",
		},
		{
			name:   "installer: remove a runtime label",
			client: installerA, node: "node-a",
			patch:   m{"metadata": m{"labels": m{"mtscn.io/runtime.runsc": nil}}},
			wantErr: installerLabels + "mtscn.io/runtime.runsc",
		},
		{
			name:   "installer: own node, remove the startup taint",
			client: installerA, node: "node-a",
			patch: m{"spec": m{"taints": []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}}},
			check: func(n *v1.Node) string {
				return cmp.Diff([]v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}, n.Spec.Taints)
			},
		},
		{
			name:   "installer: other node",
			client: installerA, node: "node-b",
			patch:   m{"metadata": m{"labels": m{"mtscn.io/sandbox-runtime": "true"}}},
			wantErr: "mtscn-node-install on node node-a may only change its own Node, not node-b",
		},
		{
			name:   "installer: a discovery label",
			client: installerA, node: "node-a",
			patch:   m{"metadata": m{"labels": m{"mtscn.io/cotenancy-safe": "true"}}},
			wantErr: installerLabels + "mtscn.io/cotenancy-safe",
		},
		{
			name:   "installer: a label outside mtscn.io",
			client: installerA, node: "node-a",
			patch:   m{"metadata": m{"labels": m{"node-role.kubernetes.io/tenant-a": ""}}},
			wantErr: installerLabels + "node-role.kubernetes.io/tenant-a",
		},
		{
			name:   "installer: remove the hostname label",
			client: installerA, node: "node-a",
			patch:   m{"metadata": m{"labels": m{"kubernetes.io/hostname": nil}}},
			wantErr: installerLabels + "kubernetes.io/hostname",
		},
		{
			name:   "installer: an annotation outside mtscn.io",
			client: installerA, node: "node-a",
			patch:   m{"metadata": m{"annotations": m{"node.alpha.kubernetes.io/ttl": "0"}}},
			wantErr: "mtscn-node-install may only change mtscn.io/* annotations, not node.alpha.kubernetes.io/ttl",
		},
		{
			name:   "installer: remove another taint",
			client: installerA, node: "node-a",
			patch:   m{"spec": m{"taints": []v1.Taint{{Key: startupTaint, Effect: v1.TaintEffectNoSchedule}}}},
			wantErr: "mtscn-node-install may only add or remove its startup taint mtscn.io/sandbox-not-ready, not other taints",
		},
		{
			name:   "installer: cordon",
			client: installerA, node: "node-a",
			patch:   m{"spec": m{"unschedulable": true}},
			wantErr: "mtscn-node-install may not cordon or uncordon Nodes",
		},
		{
			name:   "installer: token without a node name",
			client: tokenWithoutNode, node: "node-a",
			patch:   m{"metadata": m{"labels": m{"mtscn.io/sandbox-runtime": "true"}}},
			wantErr: "mtscn-node-install's token names no node",
		},
		{
			name:   "agent: own node, the labels it owns",
			client: agentA, node: "node-a",
			patch: m{"metadata": m{"labels": m{"mtscn.io/kvm": nil, "mtscn.io/cotenancy-safe": "true", "mtscn.io/runtime.runsc": "true", "mtscn.io/kata.kata-qemu.default-memory": "2048", "mtscn.io/overhead.runsc.observed-memory": "52428800"}}},
			check: func(n *v1.Node) string {
				return cmp.Diff(map[string]string{"mtscn.io/cotenancy-safe": "true", "mtscn.io/runtime.runsc": "true", "mtscn.io/kata.kata-qemu.default-memory": "2048", "mtscn.io/overhead.runsc.observed-memory": "52428800", kataRuntimeKey: "false", "kubernetes.io/hostname": "node-a"}, n.Labels)
			},
		},
		{
			name:   "agent: other node",
			client: agentA, node: "node-b",
			patch:   m{"metadata": m{"labels": m{"mtscn.io/kvm": "true"}}},
			wantErr: "mtscn-node on node node-a may only change its own Node, not node-b",
		},
		{
			name:   "agent: the installer's labels",
			client: agentA, node: "node-a",
			patch:   m{"metadata": m{"labels": m{kataRuntimeKey: "true"}}},
			wantErr: agentLabels + "katacontainers.io/kata-runtime",
		},
		{
			name:   "agent: the startup taint",
			client: agentA, node: "node-a",
			patch:   m{"spec": m{"taints": []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}}},
			wantErr: "mtscn-node may not change taints",
		},
		{
			name:   "agent: own node, the extended resources it owns",
			client: agentA, node: "node-a", status: true,
			patch: m{"status": m{"capacity": m{"mtscn.io/sandboxes": "4", "mtscn.io/sandbox-memory": "8589934592"}, "allocatable": m{"mtscn.io/sandboxes": "4", "mtscn.io/sandbox-memory": "8589934592"}}},
			check: func(n *v1.Node) string {
				got := map[string]int64{}
				for name, q := range n.Status.Allocatable {
					got[string(name)] = q.Value()
				}
				return cmp.Diff(map[string]int64{"cpu": 4, "memory": 16 << 30, "pods": 32, "mtscn.io/sandboxes": 4, "mtscn.io/sandbox-memory": 8 << 30}, got)
			},
		},
		{
			name:   "agent: other node's extended resources",
			client: agentA, node: "node-b", status: true,
			patch:   m{"status": m{"capacity": m{"mtscn.io/sandboxes": "4"}}},
			wantErr: "mtscn-node on node node-a may only change its own Node, not node-b",
		},
		{
			name:   "agent: its node's cpu and another extended resource",
			client: agentA, node: "node-a", status: true,
			patch:   m{"status": m{"capacity": m{"cpu": "64", "mtscn.io/sandboxes": "4"}, "allocatable": m{"example.com/gpu": "1"}}},
			wantErr: "mtscn-node may only change the extended resources it owns (mtscn.io/sandbox-memory, mtscn.io/sandboxes) in its Node's status, not cpu, example.com/gpu",
		},
		{
			name:   "agent: its node's conditions",
			client: agentA, node: "node-a", status: true,
			patch:   m{"status": m{"conditions": []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionFalse, Reason: "KubeletNotReady"}}}},
			wantErr: "mtscn-node may not change the Node status's conditions",
		},
		{
			name:   "agent: a label the installer owns, through the status",
			client: agentA, node: "node-a", status: true,
			patch:   m{"metadata": m{"labels": m{kataRuntimeKey: "true"}}},
			wantErr: agentLabels + "katacontainers.io/kata-runtime",
		},
		{
			name:   "agent: an annotation",
			client: agentA, node: "node-a",
			patch:   m{"metadata": m{"annotations": m{"mtscn.io/x": "y"}}},
			wantErr: "mtscn-node may not change annotations, not mtscn.io/x",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resetNodes(t)
			var err error
			switch {
			case tc.status:
				_, err = tc.client.CoreV1().Nodes().Patch(cp.Ctx, tc.node, types.MergePatchType, mergePatch(t, tc.patch), metav1.PatchOptions{}, "status")
			case tc.client == agentA:
				// node-labels mode patches.
				_, err = tc.client.CoreV1().Nodes().Patch(cp.Ctx, tc.node, types.MergePatchType, mergePatch(t, tc.patch), metav1.PatchOptions{})
			default:
				// The installer reads its Node and updates it.
				err = updateWithPatch(t, cp.Ctx, tc.client, tc.node, mergePatch(t, tc.patch))
			}
			checkErr(t, err, tc.wantErr)
			if err != nil || tc.check == nil {
				return
			}
			got, err := cp.Client.CoreV1().Nodes().Get(cp.Ctx, tc.node, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := tc.check(got); diff != "" {
				t.Errorf("node %s after the patch (-want,+got):\n%s", tc.node, diff)
			}
		})
	}

	t.Run("neither can delete its own node", func(t *testing.T) {
		for _, c := range []kubernetes.Interface{installerA, agentA} {
			if err := c.CoreV1().Nodes().Delete(cp.Ctx, "node-a", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("deleting its own Node: want Forbidden, got %v", err)
			}
		}
	})
}

// TestNodeAgentNodeFeatureConfined checks mtscn-node-own-nodefeature with
// the shipped RBAC: the agent writes only the NodeFeature named after its
// node (so it cannot squat another node's name and lock that node's agent
// out), labelled with its node, carrying only mtscn.* features and labels
// it owns; the installer cannot write NodeFeatures at all.
func TestNodeAgentNodeFeatureConfined(t *testing.T) {
	cp := installDefault(t)
	cfgA, _ := as(t, cp, serviceAccount(nodeAgentSA, map[string][]string{nodeNameExtra: {"node-a"}}))
	nfA := dynamic.NewForConfigOrDie(cfgA).Resource(nodeFeatureGVR).Namespace("mtscn-system")
	cfgB, _ := as(t, cp, serviceAccount(nodeAgentSA, map[string][]string{nodeNameExtra: {"node-b"}}))
	nfB := dynamic.NewForConfigOrDie(cfgB).Resource(nodeFeatureGVR).Namespace("mtscn-system")
	cfgI, _ := as(t, cp, serviceAccount(nodeInstallSA, map[string][]string{nodeNameExtra: {"node-a"}}))
	nfInstaller := dynamic.NewForConfigOrDie(cfgI).Resource(nodeFeatureGVR).Namespace("mtscn-system")

	nf := func(ns, name, node string, labels map[string]any, attributes map[string]any) *unstructured.Unstructured {
		spec := map[string]any{"labels": labels}
		if attributes != nil {
			spec["features"] = map[string]any{"attributes": attributes}
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "nfd.k8s-sigs.io/v1alpha1",
			"kind":       "NodeFeature",
			"metadata": map[string]any{
				"name": name, "namespace": ns,
				"labels": map[string]any{"nfd.node.kubernetes.io/node-name": node},
			},
			"spec": spec,
		}}
	}
	owned := map[string]any{"mtscn.io/kata.kata-qemu.default-memory": "2048", "mtscn.io/overhead.runsc.observed-memory": "52428800"}
	kvm := map[string]any{"mtscn.kvm": map[string]any{"elements": map[string]any{"usable": "true"}}}
	waitForDenial(t, cp.Ctx, "mtscn-node-own-nodefeature", func(ctx context.Context) error {
		_, err := nfA.Create(ctx, nf("mtscn-system", "mtscn-node-node-b", "node-a", owned, kvm), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})

	tests := []struct {
		name    string
		obj     *unstructured.Unstructured
		wantErr string
	}{
		{name: "another node's name (squatting)", obj: nf("mtscn-system", "mtscn-node-node-b", "node-a", owned, kvm),
			wantErr: "mtscn-node on node node-a may only write the NodeFeature mtscn-node-node-a, not mtscn-node-node-b"},
		{name: "its name, another node's label", obj: nf("mtscn-system", "mtscn-node-node-a", "node-b", owned, kvm),
			wantErr: "mtscn-node on node node-a may only publish NodeFeatures labelled nfd.node.kubernetes.io/node-name=node-a, not node-b"},
		{name: "a label it does not own", obj: nf("mtscn-system", "mtscn-node-node-a", "node-a", map[string]any{"mtscn.io/kvm": "true", "node-pool": "tenant-b"}, kvm),
			wantErr: "in spec.labels, not node-pool"},
		{name: "an mtscn.io label it does not own", obj: nf("mtscn-system", "mtscn-node-node-a", "node-a", map[string]any{"mtscn.io/sandbox-runtime": "true"}, kvm),
			wantErr: "in spec.labels, not mtscn.io/sandbox-runtime"},
		{name: "a feature of NFD's own domains", obj: nf("mtscn-system", "mtscn-node-node-a", "node-a", owned, map[string]any{"cpu.security": map[string]any{"elements": map[string]any{"tdx.enabled": "true"}}}),
			wantErr: "mtscn-node may only publish features of the mtscn domain (mtscn.*), not cpu.security"},
		{name: "its own", obj: nf("mtscn-system", "mtscn-node-node-a", "node-a", owned, kvm)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nfA.Create(cp.Ctx, tc.obj, metav1.CreateOptions{})
			checkErr(t, err, tc.wantErr)
		})
	}

	t.Run("update keeps the same rules", func(t *testing.T) {
		own, err := nfA.Get(cp.Ctx, "mtscn-node-node-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		own.SetLabels(map[string]string{"nfd.node.kubernetes.io/node-name": "node-b"})
		_, err = nfA.Update(cp.Ctx, own, metav1.UpdateOptions{})
		checkErr(t, err, "may only publish NodeFeatures labelled nfd.node.kubernetes.io/node-name=node-a, not node-b")
		// Another agent cannot take over node-a's object.
		own.SetLabels(map[string]string{"nfd.node.kubernetes.io/node-name": "node-a"})
		_, err = nfB.Update(cp.Ctx, own, metav1.UpdateOptions{})
		checkErr(t, err, "mtscn-node on node node-b may only write the NodeFeature mtscn-node-node-b, not mtscn-node-node-a")
	})

	t.Run("node-b's agent is not locked out", func(t *testing.T) {
		_, err := nfB.Create(cp.Ctx, nf("mtscn-system", "mtscn-node-node-b", "node-b", owned, kvm), metav1.CreateOptions{})
		checkErr(t, err, "")
	})

	t.Run("RBAC: no other namespace, no delete; the installer has none", func(t *testing.T) {
		_, err := dynamic.NewForConfigOrDie(cfgA).Resource(nodeFeatureGVR).Namespace("default").Create(cp.Ctx, nf("default", "mtscn-node-node-a", "node-a", owned, kvm), metav1.CreateOptions{})
		checkErr(t, err, `cannot create resource "nodefeatures"`)
		err = nfA.Delete(cp.Ctx, "mtscn-node-node-a", metav1.DeleteOptions{})
		checkErr(t, err, `cannot delete resource "nodefeatures"`)
		_, err = nfInstaller.Get(cp.Ctx, "mtscn-node-node-a", metav1.GetOptions{})
		checkErr(t, err, `cannot get resource "nodefeatures"`)
	})
}
