package vmsize

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestCapacityOf(t *testing.T) {
	node := &v1.Node{}
	node.Labels = map[string]string{wellknown.DefaultMemoryLabel("kata-qemu"): "1024", wellknown.SizingLabel("kata-qemu"): "bogus"}
	node.Status.Allocatable = v1.ResourceList{
		v1.ResourceMemory:               resource.MustParse("8Gi"),
		wellknown.ResourceSandboxMemory: resource.MustParse("4Gi"),
	}
	c := CapacityOf(node)
	mib := int64(1024)
	want := Capacity{Memory: 8 << 30, SharedMemory: 4 << 30, HasSharedMemory: true,
		Values: NodeValues{"kata-qemu": {DefaultMemory: ptr.To(mib << 20)}}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("CapacityOf (-want,+got):\n%s", diff)
	}
	for _, tc := range []struct {
		name string
		fp   Footprint
		want bool
	}{
		{"fits", Footprint{Committed: 3 << 30, SharedMemory: 3 << 30, VM: true}, true},
		{"more memory than the node has", Footprint{Committed: 9 << 30}, false},
		{"more guest memory than /dev/shm backs", Footprint{Committed: 5 << 30, SharedMemory: 5 << 30, VM: true}, false},
	} {
		if got := c.FitsEmpty(tc.fp); got != tc.want {
			t.Errorf("%s: FitsEmpty = %v, want %v", tc.name, got, tc.want)
		}
	}
	c.HasSlots, c.Slots = true, 0
	if c.FitsEmpty(Footprint{Committed: 1, VM: true}) {
		t.Errorf("a VM fits a node advertising 0 %s", wellknown.ResourceSandboxes)
	}
}
