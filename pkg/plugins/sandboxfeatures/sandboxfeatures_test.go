package sandboxfeatures

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/scheme"
	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

const (
	labelKVM      = wellknown.LabelKVM
	labelVirtMode = wellknown.LabelVirtMode
	labelIOMMU    = wellknown.LabelIOMMU
	labelQATVFIO  = wellknown.LabelQATVFIO
	labelTDX      = wellknown.LabelTDX
	labelSNP      = wellknown.LabelSNP
	qatCy         = v1.ResourceName("qat.intel.com/cy")
	qatDc         = v1.ResourceName("qat.intel.com/dc")
)

// defaultArgs returns the shipped defaults, decoded the way kube-scheduler
// does (v1 defaulting, then conversion to the internal type).
func defaultArgs(t testing.TB) *config.SandboxFeaturesArgs {
	t.Helper()
	in := &configv1.SandboxFeaturesArgs{}
	scheme.Scheme.Default(in)
	out := &config.SandboxFeaturesArgs{}
	if err := scheme.Scheme.Convert(in, out, nil); err != nil {
		t.Fatalf("converting default args: %v", err)
	}
	return out
}

func runtimeClass(name, handler string, labels map[string]string) *nodev1.RuntimeClass {
	return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Handler: handler}
}

// runtimeClasses are the RuntimeClasses of kata-deploy plus runc, gVisor and
// a custom VM runtime marked sandboxed by label.
func runtimeClasses() []runtime.Object {
	return []runtime.Object{
		runtimeClass("kata", "kata", nil),
		runtimeClass("kata-qemu", "kata-qemu", nil),
		runtimeClass("kata-clh", "kata-clh", nil),
		runtimeClass("kata-qemu-tdx", "kata-qemu-tdx", nil),
		runtimeClass("kata-qemu-snp", "kata-qemu-snp", nil),
		runtimeClass("kata-remote", "kata-remote", nil),
		runtimeClass("runc", "runc", nil),
		runtimeClass("gvisor", "runsc", nil),
		runtimeClass("firecracker-custom", "fc-custom", map[string]string{"mtscn.io/sandboxed": "true"}),
	}
}

func newPlugin(ctx context.Context, t testing.TB, args *config.SandboxFeaturesArgs, nodes []*v1.Node) *SandboxFeatures {
	t.Helper()
	p := plugintesting.SetupPluginWithInformers(ctx, t, New, args, cache.NewSnapshot(nil, nodes), runtimeClasses())
	return p.(*SandboxFeatures)
}

func pod(name, runtimeClassName string) *st.PodWrapper {
	w := st.MakePod().Namespace("tenant-a").Name(name).UID(name)
	if runtimeClassName != "" {
		w.Spec.RuntimeClassName = &runtimeClassName
	}
	return w
}

func withQAT(w *st.PodWrapper, res v1.ResourceName) *st.PodWrapper {
	return w.Res(map[v1.ResourceName]string{res: "1"})
}

func node(name string, labels ...string) *v1.Node {
	w := st.MakeNode().Name(name)
	for i := 0; i+1 < len(labels); i += 2 {
		w = w.Label(labels[i], labels[i+1])
	}
	return w.Obj()
}

func runtimeLabel(handler string) string { return wellknown.LabelRuntimePrefix + handler }

func TestPreFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		// wantReqs are the names of the derived requirements; nil with
		// wantStatus Skip.
		wantReqs   []string
		wantStatus *fwk.Status
	}{
		{name: "default runtime needs nothing", pod: pod("p", "").Obj(), wantStatus: fwk.NewStatus(fwk.Skip)},
		{name: "runc needs nothing", pod: pod("p", "runc").Obj(), wantStatus: fwk.NewStatus(fwk.Skip)},
		{name: "gVisor needs its handler, not KVM", pod: pod("p", "gvisor").Obj(), wantReqs: []string{"runsc runtime handler"}},
		{name: "off-node kata-remote needs nothing on the node", pod: pod("p", "kata-remote").Obj(), wantStatus: fwk.NewStatus(fwk.Skip)},
		{name: "runc pod with QAT uses the host driver", pod: withQAT(pod("p", "runc"), qatCy).Obj(), wantStatus: fwk.NewStatus(fwk.Skip)},
		{name: "pod without runtime class with QAT", pod: withQAT(pod("p", ""), qatDc).Obj(), wantStatus: fwk.NewStatus(fwk.Skip)},
		{name: "kata-qemu needs KVM and its handler", pod: pod("p", "kata-qemu").Obj(), wantReqs: []string{"usable /dev/kvm", "kata-qemu runtime handler"}},
		{name: "plain kata handler needs KVM and its handler", pod: pod("p", "kata").Obj(), wantReqs: []string{"usable /dev/kvm", "kata runtime handler"}},
		{name: "kata-clh needs KVM and its handler", pod: pod("p", "kata-clh").Obj(), wantReqs: []string{"usable /dev/kvm", "kata-clh runtime handler"}},
		{name: "kata-qemu-tdx also needs TDX", pod: pod("p", "kata-qemu-tdx").Obj(), wantReqs: []string{"usable /dev/kvm", "kata-qemu-tdx runtime handler", "TDX"}},
		{name: "kata-qemu-snp also needs SEV-SNP", pod: pod("p", "kata-qemu-snp").Obj(), wantReqs: []string{"usable /dev/kvm", "kata-qemu-snp runtime handler", "SEV-SNP"}},
		{name: "Kata pod with QAT needs IOMMU and vfio VFs", pod: withQAT(pod("p", "kata-qemu"), qatCy).Obj(),
			wantReqs: []string{"usable /dev/kvm", "kata-qemu runtime handler", "IOMMU", "QAT VFs bound to vfio-pci"}},
		{name: "QAT in an init container counts", pod: pod("p", "kata-qemu").InitReq(map[v1.ResourceName]string{qatDc: "1"}).Obj(),
			wantReqs: []string{"usable /dev/kvm", "kata-qemu runtime handler", "IOMMU", "QAT VFs bound to vfio-pci"}},
		{name: "sandboxed-by-label custom runtime with QAT needs only the device requirements", pod: withQAT(pod("p", "firecracker-custom"), qatCy).Obj(),
			wantReqs: []string{"IOMMU", "QAT VFs bound to vfio-pci"}},
		{name: "missing RuntimeClass is unresolvable, like in the other plugins", pod: pod("p", "kata-nope").Obj(),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, `runtime class "kata-nope" not found`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl := newPlugin(ctx, t, defaultArgs(t), nil)
			state := framework.NewCycleState()
			_, status := pl.PreFilter(ctx, state, tc.pod, nil)
			// Compare code and message: errors are wrapped.
			if diff := cmp.Diff(tc.wantStatus.Code(), status.Code()); diff != "" {
				t.Fatalf("PreFilter status code (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStatus.Message(), status.Message()); diff != "" {
				t.Fatalf("PreFilter status (-want,+got):\n%s", diff)
			}
			if tc.wantReqs == nil {
				return
			}
			s, err := getPreFilterState(state)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantReqs, requirementNames(s.reqs)); diff != "" {
				t.Errorf("requirements (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	kataReady := []string{labelKVM, "true", runtimeLabel("kata-qemu"), "true"}
	tests := []struct {
		name       string
		pod        *v1.Pod
		node       *v1.Node
		wantStatus *fwk.Status
	}{
		{name: "kata-qemu on a node with KVM and the handler", pod: pod("p", "kata-qemu").Obj(), node: node("n", kataReady...)},
		{name: "kata-qemu on a node without KVM", pod: pod("p", "kata-qemu").Obj(), node: node("n", runtimeLabel("kata-qemu"), "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: usable /dev/kvm")},
		{name: "kata-qemu on a node where KVM is reported false", pod: pod("p", "kata-qemu").Obj(), node: node("n", labelKVM, "false", runtimeLabel("kata-qemu"), "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: usable /dev/kvm")},
		{name: "kata-qemu on a node with KVM but only another handler", pod: pod("p", "kata-qemu").Obj(), node: node("n", labelKVM, "true", runtimeLabel("kata-clh"), "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: kata-qemu runtime handler")},
		{name: "kata-qemu on an empty node lists everything", pod: pod("p", "kata-qemu").Obj(), node: node("n"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: usable /dev/kvm, kata-qemu runtime handler")},
		{name: "kata-qemu-tdx on a TDX node", pod: pod("p", "kata-qemu-tdx").Obj(),
			node: node("n", labelKVM, "true", runtimeLabel("kata-qemu-tdx"), "true", labelTDX, "true")},
		{name: "kata-qemu-tdx on a KVM node without TDX", pod: pod("p", "kata-qemu-tdx").Obj(),
			node:       node("n", labelKVM, "true", runtimeLabel("kata-qemu-tdx"), "true", labelSNP, "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: TDX")},
		{name: "kata-qemu-tdx on a node without KVM or TDX", pod: pod("p", "kata-qemu-tdx").Obj(), node: node("n", runtimeLabel("kata-qemu-tdx"), "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: usable /dev/kvm, TDX")},
		{name: "kata-qemu-snp on an SEV-SNP node", pod: pod("p", "kata-qemu-snp").Obj(),
			node: node("n", labelKVM, "true", runtimeLabel("kata-qemu-snp"), "true", labelSNP, "true")},
		{name: "kata-qemu-snp on a TDX node", pod: pod("p", "kata-qemu-snp").Obj(),
			node:       node("n", labelKVM, "true", runtimeLabel("kata-qemu-snp"), "true", labelTDX, "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: SEV-SNP")},
		{name: "Kata QAT pod on a node with IOMMU and vfio VFs", pod: withQAT(pod("p", "kata-qemu"), qatCy).Obj(),
			node: node("n", append([]string{labelIOMMU, "true", labelQATVFIO, "true"}, kataReady...)...)},
		{name: "Kata QAT pod on a node whose VFs are on the host driver", pod: withQAT(pod("p", "kata-qemu"), qatCy).Obj(),
			node:       node("n", append([]string{labelIOMMU, "true"}, kataReady...)...),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: QAT VFs bound to vfio-pci")},
		{name: "Kata QAT pod on a node without IOMMU", pod: withQAT(pod("p", "kata-qemu"), qatDc).Obj(),
			node:       node("n", kataReady...),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: IOMMU, QAT VFs bound to vfio-pci")},
		{name: "gVisor on a node without KVM that serves its handler", pod: pod("p", "gvisor").Obj(), node: node("n", runtimeLabel("runsc"), "true")},
		{name: "gVisor on a node whose containerd lacks its handler", pod: pod("p", "gvisor").Obj(), node: node("n", labelKVM, "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: runsc runtime handler")},
		{name: "sandboxed custom runtime with QAT on a node without IOMMU", pod: withQAT(pod("p", "firecracker-custom"), qatDc).Obj(),
			node:       node("n", labelQATVFIO, "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: IOMMU")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl := newPlugin(ctx, t, defaultArgs(t), []*v1.Node{tc.node})
			state := framework.NewCycleState()
			if _, status := pl.PreFilter(ctx, state, tc.pod, nil); !status.IsSuccess() {
				t.Fatalf("PreFilter: %v", status)
			}
			nodeInfo := framework.NewNodeInfo()
			nodeInfo.SetNode(tc.node)
			status := pl.Filter(ctx, state, tc.pod, nodeInfo)
			if diff := cmp.Diff(tc.wantStatus, status); diff != "" {
				t.Errorf("Filter status (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestCustomRequirements checks args an operator would write: operators
// other than In, {handler} in keys and names, and the reason order.
func TestCustomRequirements(t *testing.T) {
	args := defaultArgs(t)
	args.RuntimeRequirements = []config.RuntimeRequirement{{
		Handlers: []string{"kata-*"},
		Requirements: []config.NodeRequirement{
			{Name: "{handler} certified", MatchExpressions: []v1.NodeSelectorRequirement{{Key: "example.com/certified.{handler}", Operator: v1.NodeSelectorOpExists}}},
			{Name: "kernel >= 6", MatchExpressions: []v1.NodeSelectorRequirement{{Key: "example.com/kernel-major", Operator: v1.NodeSelectorOpGt, Values: []string{"5"}}}},
			{Name: "not draining", MatchExpressions: []v1.NodeSelectorRequirement{{Key: "example.com/draining", Operator: v1.NodeSelectorOpDoesNotExist}}},
		},
	}}
	tests := []struct {
		name       string
		node       *v1.Node
		wantStatus *fwk.Status
	}{
		{name: "all met", node: node("n", "example.com/certified.kata-clh", "", "example.com/kernel-major", "6")},
		{name: "old kernel and draining", node: node("n", "example.com/certified.kata-clh", "yes", "example.com/kernel-major", "5", "example.com/draining", "true"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: kernel >= 6, not draining")},
		{name: "certified for another handler", node: node("n", "example.com/certified.kata-qemu", "", "example.com/kernel-major", "6"),
			wantStatus: fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node lacks: kata-clh certified")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl := newPlugin(ctx, t, args, []*v1.Node{tc.node})
			p := pod("p", "kata-clh").Obj()
			state := framework.NewCycleState()
			if _, status := pl.PreFilter(ctx, state, p, nil); !status.IsSuccess() {
				t.Fatalf("PreFilter: %v", status)
			}
			nodeInfo := framework.NewNodeInfo()
			nodeInfo.SetNode(tc.node)
			if diff := cmp.Diff(tc.wantStatus, pl.Filter(ctx, state, p, nodeInfo)); diff != "" {
				t.Errorf("Filter status (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestOffNodeHandlersNeedNothingOnTheNode checks that runtime requirements
// never reach an off-node handler, even when a pattern matches it.
func TestOffNodeHandlersNeedNothingOnTheNode(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	args := defaultArgs(t)
	args.RuntimeRequirements = append(args.RuntimeRequirements, config.RuntimeRequirement{
		Handlers: []string{"kata-remote*"},
		Requirements: []config.NodeRequirement{{Name: "peer-pod network", MatchExpressions: []v1.NodeSelectorRequirement{
			{Key: "example.com/peer-pods", Operator: v1.NodeSelectorOpExists}}}},
	})
	pl := newPlugin(ctx, t, args, nil)
	_, status := pl.PreFilter(ctx, framework.NewCycleState(), pod("p", "kata-remote").Obj(), nil)
	if diff := cmp.Diff(fwk.NewStatus(fwk.Skip), status); diff != "" {
		t.Errorf("PreFilter status (-want,+got):\n%s", diff)
	}
}

func TestScore(t *testing.T) {
	hw := node("hw", labelVirtMode, wellknown.VirtModeHardware)
	pvm := node("pvm", labelVirtMode, wellknown.VirtModePVM)
	nested := node("nested", labelVirtMode, wellknown.VirtModeNested)
	none := node("none")
	custom := defaultArgs(t)
	custom.VirtModeWeights = config.VirtModeWeights{Hardware: 10, PVM: 50, Nested: 0}
	tests := []struct {
		name          string
		args          *config.SandboxFeaturesArgs
		pod           *v1.Pod
		nodes         []*v1.Node
		wantPreScore  *fwk.Status
		wantScores    []int64
		wantNormScore []int64
	}{
		{name: "Kata pod prefers hardware over pvm over nested", args: defaultArgs(t), pod: pod("p", "kata-qemu").Obj(),
			nodes: []*v1.Node{hw, pvm, nested, none}, wantScores: []int64{100, 60, 30, 0}, wantNormScore: []int64{100, 60, 30, 0}},
		{name: "without hardware nodes pvm gets the top score", args: defaultArgs(t), pod: pod("p", "kata-clh").Obj(),
			nodes: []*v1.Node{pvm, nested, none}, wantScores: []int64{60, 30, 0}, wantNormScore: []int64{100, 50, 0}},
		{name: "configured weights", args: custom, pod: pod("p", "kata-qemu").Obj(),
			nodes: []*v1.Node{hw, pvm, nested}, wantScores: []int64{10, 50, 0}, wantNormScore: []int64{20, 100, 0}},
		{name: "no node has a virt-mode", args: defaultArgs(t), pod: pod("p", "kata-qemu").Obj(),
			nodes: []*v1.Node{none, node("other")}, wantScores: []int64{0, 0}, wantNormScore: []int64{0, 0}},
		{name: "runc pod is not scored", args: defaultArgs(t), pod: pod("p", "runc").Obj(), nodes: []*v1.Node{hw, pvm}, wantPreScore: fwk.NewStatus(fwk.Skip)},
		{name: "gVisor pod is not scored", args: defaultArgs(t), pod: pod("p", "gvisor").Obj(), nodes: []*v1.Node{hw, pvm}, wantPreScore: fwk.NewStatus(fwk.Skip)},
		{name: "off-node kata-remote pod is not scored", args: defaultArgs(t), pod: pod("p", "kata-remote").Obj(), nodes: []*v1.Node{hw, pvm}, wantPreScore: fwk.NewStatus(fwk.Skip)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			pl := newPlugin(ctx, t, tc.args, tc.nodes)
			state := framework.NewCycleState()
			if diff := cmp.Diff(tc.wantPreScore, pl.PreScore(ctx, state, tc.pod, nil)); diff != "" {
				t.Fatalf("PreScore status (-want,+got):\n%s", diff)
			}
			if tc.wantPreScore != nil {
				return
			}
			var scores fwk.NodeScoreList
			var raw []int64
			for _, n := range tc.nodes {
				ni := framework.NewNodeInfo()
				ni.SetNode(n)
				s, status := pl.Score(ctx, state, tc.pod, ni)
				if !status.IsSuccess() {
					t.Fatalf("Score: %v", status)
				}
				raw = append(raw, s)
				scores = append(scores, fwk.NodeScore{Name: n.Name, Score: s})
			}
			if diff := cmp.Diff(tc.wantScores, raw); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
			if status := pl.ScoreExtensions().NormalizeScore(ctx, state, tc.pod, scores); !status.IsSuccess() {
				t.Fatalf("NormalizeScore: %v", status)
			}
			var norm []int64
			for _, s := range scores {
				norm = append(norm, s.Score)
			}
			if diff := cmp.Diff(tc.wantNormScore, norm); diff != "" {
				t.Errorf("normalized scores (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestSignPod(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pl := newPlugin(ctx, t, defaultArgs(t), nil)
	sign := func(p *v1.Pod) string {
		frags, status := pl.SignPod(ctx, p)
		if !status.IsSuccess() {
			t.Fatalf("SignPod(%s): %v", p.Name, status)
		}
		if len(frags) != 1 || frags[0].Key != requirementsSignerName {
			t.Fatalf("SignPod(%s) = %v, want one %s fragment", p.Name, frags, requirementsSignerName)
		}
		return fmt.Sprintf("%+v", frags[0].Value)
	}
	tests := []struct {
		name string
		a, b *v1.Pod
		same bool
	}{
		{name: "same runtime class", a: pod("a", "kata-qemu").Obj(), b: pod("b", "kata-qemu").Obj(), same: true},
		{name: "QAT cy and dc need the same", a: withQAT(pod("a", "kata-qemu"), qatCy).Obj(), b: withQAT(pod("b", "kata-qemu"), qatDc).Obj(), same: true},
		{name: "runc and default runtime need nothing", a: pod("a", "runc").Obj(), b: pod("b", "").Obj(), same: true},
		{name: "kata-qemu and kata-qemu-tdx differ", a: pod("a", "kata-qemu").Obj(), b: pod("b", "kata-qemu-tdx").Obj()},
		{name: "kata-qemu and kata-clh need different handlers", a: pod("a", "kata-qemu").Obj(), b: pod("b", "kata-clh").Obj()},
		{name: "QAT makes a difference for Kata", a: pod("a", "kata-qemu").Obj(), b: withQAT(pod("b", "kata-qemu"), qatCy).Obj()},
		{name: "off-node kata-remote needs and scores as little as runc", a: pod("a", "kata-remote").Obj(), b: pod("b", "runc").Obj(), same: true},
		{name: "gVisor needs its handler, runc nothing", a: pod("a", "gvisor").Obj(), b: pod("b", "runc").Obj()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sa, sb := sign(tc.a), sign(tc.b)
			if (sa == sb) != tc.same {
				t.Errorf("signatures %q and %q: same = %v, want %v", sa, sb, sa == sb, tc.same)
			}
		})
	}
	// A pod whose RuntimeClass is missing is not signed (PreFilter rejects
	// it); the refusal is Unschedulable, not an Error the scheduler logs.
	if _, status := pl.SignPod(ctx, pod("x", "kata-nope").Obj()); status.Code() != fwk.Unschedulable {
		t.Errorf("SignPod of a pod with a missing RuntimeClass = %v, want Unschedulable", status)
	}
}

func TestNew(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	bad := defaultArgs(t)
	bad.RuntimeRequirements[2].Handlers = append(bad.RuntimeRequirements[2].Handlers, "kata-[clh")
	bad.DeviceRequirements[0].Requirements[0].MatchExpressions[0].Operator = "Near"
	tests := []struct {
		name    string
		args    runtime.Object
		wantErr []string
	}{
		{name: "defaults", args: defaultArgs(t)},
		{name: "wrong args type", args: &config.SandboxOverheadArgs{}, wantErr: []string{"want args to be of type SandboxFeaturesArgs, got *config.SandboxOverheadArgs"}},
		{name: "bad glob and operator name their fields", args: bad, wantErr: []string{
			"pluginConfig[SandboxFeatures].args.runtimeRequirements[2].handlers[1]",
			"pluginConfig[SandboxFeatures].args.deviceRequirements[0].requirements[0].matchExpressions[0].operator",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(ctx, tc.args, nil)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error naming %v", tc.wantErr)
			}
			t.Logf("error: %v", err)
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// BenchmarkFilter measures Filter for pods with 0 (skipped in PreFilter, so
// not measured), 2 and 5 requirements against a node carrying a realistic
