package sandboxoverhead

import (
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// guestPeaks remembers, for running pods whose memory limits were lowered
// in place (KEP-1287), the largest effective memory limits seen: a Kata VM
// never gives hot-plugged memory back to the host (docs/vm-footprint.md,
// "In-place resize"), so its guest keeps that size after the resize.
// Entries exist only for pods that were resized down, and go with the pod.
type guestPeaks struct {
	m sync.Map // types.UID -> int64
}

// raise records limits for the pod and reports whether the peak grew.
func (g *guestPeaks) raise(uid types.UID, limits int64) bool {
	for {
		v, loaded := g.m.LoadOrStore(uid, limits)
		if !loaded {
			return true
		}
		if v.(int64) >= limits {
			return false
		}
		if g.m.CompareAndSwap(uid, v, limits) {
			return true
		}
	}
}

func (g *guestPeaks) get(uid types.UID) (int64, bool) {
	v, ok := g.m.Load(uid)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}

// watchResizes records the guest peak of a bound pod of a RuntimeClass
// when an update lowers its desired memory limits below what was in effect
// before. The resize request (the spec) arrives before the kubelet applies
// it, and the model counts max(spec, actuated) until then, so the peak is
// recorded before the pod's effective limits drop. A new peak invalidates
// the View, so that no summary computed in between stays cached.
func (pl *SandboxOverhead) watchResizes(h fwk.Handle) error {
	_, err := h.SharedInformerFactory().Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			oldPod, ok1 := oldObj.(*v1.Pod)
			newPod, ok2 := newObj.(*v1.Pod)
			if !ok1 || !ok2 || newPod.Spec.NodeName == "" || newPod.Spec.RuntimeClassName == nil {
				return
			}
			before := pl.model.Demand(oldPod, tenancy.Runtime{}).Limits
			if specLimits(pl.model, newPod) >= before {
				return
			}
			if pl.peaks.raise(newPod.UID, before) {
				pl.views.Invalidate()
			}
		},
		DeleteFunc: func(obj any) {
			if p, err := classify.ToTyped[v1.Pod](obj); err == nil && p != nil {
				pl.peaks.m.Delete(p.UID)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	return nil
}

// specLimits returns the pod's effective memory limits from its spec
// alone: what it asks for once every resize is applied.
func specLimits(m *vmsize.Model, pod *v1.Pod) int64 {
	spec := *pod
	spec.Status = v1.PodStatus{}
	return m.Demand(&spec, tenancy.Runtime{}).Limits
}

// demand is the model's demand of a pod on a node, with its guest no
// smaller than its recorded peak or than atLeast (the limits of an older
// version of the pod).
func (pl *SandboxOverhead) demand(pod *v1.Pod, rt tenancy.Runtime, atLeast int64) vmsize.Demand {
	d := pl.model.Demand(pod, rt)
	if peak, ok := pl.peaks.get(pod.UID); ok {
		atLeast = max(atLeast, peak)
	}
	if atLeast > d.Limits {
		d.Limits, d.AnyLimit = atLeast, true
	}
	return d
}

// podFootprint sizes a pod already on (or being added to) a node, its
// guest no smaller than atLeast.
func (pl *SandboxOverhead) podFootprint(logger klog.Logger, view *classify.View, pod *v1.Pod, values vmsize.NodeValues, atLeast int64) vmsize.Footprint {
	rt := runtimeOf(logger, view, pod)
	p, ok := pl.model.ProfileFor(rt.Handler)
	if v, has := values[rt.Handler]; has {
		p = pl.model.ProfileOn(p, v)
		ok = ok || v.Sizing != nil
	}
	return pl.model.Footprint(pl.demand(pod, rt, atLeast), p, ok)
}
