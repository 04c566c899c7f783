package vmsize

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/tenancy"
)

// TestDemandInPlaceResize: a pod in the middle of an in-place resize
// (KEP-1287) is sized as Kubernetes sizes it: max(spec, actuated,
// allocated) for requests and max(spec, actuated) for limits; the status
// alone when the resize is infeasible. A Kata VM whose memory limit is
// being lowered keeps its old guest until the node applied the resize.
func TestDemandInPlaceResize(t *testing.T) {
	m := defaultModel(t, nil)
	list := func(s string) v1.ResourceList { return v1.ResourceList{v1.ResourceMemory: resource.MustParse(s)} }
	// pod has one container "c" whose spec asks for spec (requests =
	// limits); the status reports actuated (requests = limits) and
	// allocated requests ("" for none).
	pod := func(spec, actuated, allocated string, conditions ...v1.PodCondition) *v1.Pod {
		p := st.MakePod().Name("p").Container("c").Obj()
		p.Spec.Containers[0].Name = "c"
		p.Spec.Containers[0].Resources = v1.ResourceRequirements{Requests: list(spec), Limits: list(spec)}
		cs := v1.ContainerStatus{Name: "c"}
		if actuated != "" {
			cs.Resources = &v1.ResourceRequirements{Requests: list(actuated), Limits: list(actuated)}
		}
		if allocated != "" {
			cs.AllocatedResources = list(allocated)
		}
		p.Status.ContainerStatuses = []v1.ContainerStatus{cs}
		p.Status.Conditions = conditions
		return p
	}
	infeasible := v1.PodCondition{Type: v1.PodResizePending, Status: v1.ConditionTrue, Reason: v1.PodReasonInfeasible}
	deferred := v1.PodCondition{Type: v1.PodResizePending, Status: v1.ConditionTrue, Reason: v1.PodReasonDeferred}
	tests := []struct {
		name                     string
		pod                      *v1.Pod
		wantRequests, wantLimits int64
	}{
		{"no resize", pod("1Gi", "1Gi", "1Gi"), 1024, 1024},
		{"lowering, not yet allocated", pod("1Gi", "4Gi", "4Gi"), 4096, 4096},
		{"lowering, allocated, not yet actuated", pod("1Gi", "4Gi", "1Gi"), 4096, 4096},
		{"lowering done", pod("1Gi", "1Gi", "1Gi"), 1024, 1024},
		{"raising, deferred", pod("4Gi", "1Gi", "1Gi", deferred), 4096, 4096},
		{"raising, infeasible", pod("8Gi", "1Gi", "1Gi", infeasible), 1024, 1024},
		{"status without resources (older kubelet)", pod("2Gi", "", ""), 2048, 2048},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := m.Demand(tc.pod, kata("kata-qemu"))
			got := []int64{d.Requests / mib, d.Limits / mib}
			if diff := cmp.Diff([]int64{tc.wantRequests, tc.wantLimits}, got); diff != "" {
				t.Errorf("requests, limits in Mi (-want,+got):\n%s", diff)
			}
		})
	}

	// The status of a regular init container is not consulted (resizes
	// apply to regular containers and sidecars only).
	p := pod("1Gi", "4Gi", "4Gi")
	p.Spec.InitContainers = []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Limits: list("512Mi")}}}
	p.Spec.Containers[0].Name = "app"
	if d := m.Demand(p, tenancy.Runtime{}); d.Limits != 1024*mib {
		t.Errorf("init container sharing the status's name: limits %dMi, want 1024Mi (the app container's spec)", d.Limits/mib)
	}
}
