package manifests

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// TestMutatingPolicy applies the optional components/mutating-policy on an
// apiserver that serves MutatingAdmissionPolicy (beta, feature-gated in
// 1.35) and checks that pods in a sandbox=required namespace get
// mtscn-scheduler and, when they name no RuntimeClass, the default
// sandboxed one with exactly its overhead and node selector, so that the
// RuntimeClass admission controller and mtscn-sandbox-required accept them.
func TestMutatingPolicy(t *testing.T) {
	cp := harness.StartFullControlPlane(t,
		"--feature-gates=MutatingAdmissionPolicy=true",
		"--runtime-config=admissionregistration.k8s.io/v1beta1=true")
	cp.InstallCRDs(t, nfdCRDs(t))
	applier, err := NewApplier(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(cp.Ctx, render(t, componentOverlay(t, "components/mutating-policy")), false); err != nil {
		t.Fatalf("default install with components/mutating-policy: %v", err)
	}
	cp.CreateNamespace(t, "tenant-m", map[string]string{"mtscn.io/tenant": "m", "mtscn.io/sandbox": "required"})
	cp.CreateNamespace(t, "free", nil)

	params, err := cp.Client.CoreV1().ConfigMaps("mtscn-system").Get(cp.Ctx, "mtscn-sandbox-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defaultClass := params.Data["defaultRuntimeClass"]
	overheadOf := func(name string) v1.ResourceList {
		rc, err := cp.Client.NodeV1().RuntimeClasses().Get(cp.Ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rc.Overhead.PodFixed
	}

	// The mutating policy takes effect a moment after it is created.
	var last error
	err = wait.PollUntilContextTimeout(cp.Ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		probe := st.MakePod().Name("probe").Namespace("tenant-m").Container("registry.k8s.io/pause:3.10").Obj()
		got, err := cp.Client.CoreV1().Pods("tenant-m").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		last = err
		return err == nil && got.Spec.RuntimeClassName != nil, nil
	})
	if err != nil {
		t.Fatalf("mutating policy did not take effect within 30s (last error: %v)", last)
	}

	tests := []struct {
		name      string
		pod       *v1.Pod
		wantClass *string
		wantSched string
		wantOver  v1.ResourceList
		wantSel   map[string]string
	}{
		{
			name:      "no runtime class, default scheduler",
			pod:       st.MakePod().Name("a").Namespace("tenant-m").NodeSelector(map[string]string{"zone": "z1"}).Container("registry.k8s.io/pause:3.10").Obj(),
			wantClass: ptr.To(defaultClass), wantSched: "mtscn-scheduler", wantOver: overheadOf(defaultClass),
			wantSel: map[string]string{"zone": "z1", "katacontainers.io/kata-runtime": "true"},
		},
		{
			name:      "no runtime class, no node selector",
			pod:       st.MakePod().Name("b").Namespace("tenant-m").Container("registry.k8s.io/pause:3.10").Obj(),
			wantClass: ptr.To(defaultClass), wantSched: "mtscn-scheduler", wantOver: overheadOf(defaultClass),
			wantSel: map[string]string{"katacontainers.io/kata-runtime": "true"},
		},
		{
			name:      "own sandboxed runtime class is kept",
			pod:       withRuntimeClass(st.MakePod().Name("c").Namespace("tenant-m").Container("registry.k8s.io/pause:3.10").Obj(), "kata-clh"),
			wantClass: ptr.To("kata-clh"), wantSched: "mtscn-scheduler", wantOver: overheadOf("kata-clh"),
			wantSel: map[string]string{"katacontainers.io/kata-runtime": "true"},
		},
		{
			name:      "namespace without the requirement is untouched",
			pod:       st.MakePod().Name("d").Namespace("free").Container("registry.k8s.io/pause:3.10").Obj(),
			wantSched: "default-scheduler",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cp.Client.CoreV1().Pods(tc.pod.Namespace).Create(cp.Ctx, tc.pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("creating pod: %v", err)
			}
			type result struct {
				RuntimeClassName *string
				SchedulerName    string
				Overhead         v1.ResourceList
				NodeSelector     map[string]string
			}
			want := result{tc.wantClass, tc.wantSched, tc.wantOver, tc.wantSel}
			have := result{got.Spec.RuntimeClassName, got.Spec.SchedulerName, got.Spec.Overhead, got.Spec.NodeSelector}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("admitted pod (-want,+got):\n%s", diff)
			}
		})
	}
}

func withRuntimeClass(pod *v1.Pod, name string) *v1.Pod {
	pod.Spec.RuntimeClassName = ptr.To(name)
	return pod
}
