package overhead

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestWindowsStats(t *testing.T) {
	w := NewWindows(100)
	for i := int64(1); i <= 150; i++ { // 1..50 fall out of the window
		w.Add("runsc", i*mib)
	}
	w.Add("kata-qemu", 96*mib)
	st := w.Stats()
	if got, want := st["runsc"], (Stats{P50: 100 * mib, P95: 145 * mib, Max: 150 * mib, Count: 100}); got != want {
		t.Errorf("runsc = %+v, want %+v", got, want)
	}
	if got, want := st["kata-qemu"], (Stats{P50: 96 * mib, P95: 96 * mib, Max: 96 * mib, Count: 1}); got != want {
		t.Errorf("kata-qemu = %+v, want %+v", got, want)
	}
}

func TestTargets(t *testing.T) {
	gvisor, runc := "gvisor", "runc"
	running := v1.ContainerState{Running: &v1.ContainerStateRunning{}}
	pod := func(name string, rc *string, phase v1.PodPhase, ids ...string) v1.Pod {
		p := v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name + "-uid")},
			Spec: v1.PodSpec{RuntimeClassName: rc}, Status: v1.PodStatus{Phase: phase}}
		for _, id := range ids {
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{})
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, v1.ContainerStatus{ContainerID: id, State: running})
		}
		return p
	}
	starting := pod("starting", &gvisor, v1.PodRunning, "containerd://a1")
	starting.Spec.Containers = append(starting.Spec.Containers, v1.Container{})
	got := Targets([]v1.Pod{
		pod("sandboxed", &gvisor, v1.PodRunning, "containerd://a1", "containerd://b2"),
		pod("shared-kernel", &runc, v1.PodRunning, "containerd://c3"),
		pod("default", nil, v1.PodRunning, "containerd://d4"),
		pod("pending", &gvisor, v1.PodPending),
		starting,
	}, map[string]string{"gvisor": "runsc", "runc": "runc"}, map[string]bool{"runsc": true})
	if len(got) != 1 || got[0].Name != "sandboxed" || got[0].Handler != "runsc" ||
		len(got[0].ContainerIDs) != 2 || got[0].ContainerIDs[0] != "a1" || got[0].UID != "sandboxed-uid" {
		t.Errorf("Targets = %+v; want only the running gVisor pod, handler runsc, ids a1 b2", got)
	}
}
