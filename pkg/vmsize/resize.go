package vmsize

import (
	v1 "k8s.io/api/core/v1"
)

// resizeState holds what a pod's status says about in-place resizes
// (KEP-1287): per running container, the resources the kubelet allocated
// (status.containerStatuses[].allocatedResources, requests only) and the
// ones the runtime actuated (status.containerStatuses[].resources).
//
// A pod's spec holds the desired resources, which run ahead of the node
// during a resize. Kubernetes sizes a pod in the middle of a resize by
// max(spec, actuated, allocated) for requests and max(spec, actuated) for
// limits, and by the status alone when the resize is infeasible
// (k8s.io/component-helpers/resource: determineEffectiveRequests and
// determineEffectiveLimits). The model does the same, so that a resize
// that lowers memory counts the old size until the node applied it, and
// one that raises it counts the new size at once (docs/vm-footprint.md,
// "In-place resize").
type resizeState struct {
	statuses   map[string]*v1.ContainerStatus
	infeasible bool
}

func newResizeState(pod *v1.Pod) resizeState {
	rs := resizeState{}
	for _, list := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Resources == nil && list[i].AllocatedResources == nil {
				continue
			}
			if rs.statuses == nil {
				rs.statuses = map[string]*v1.ContainerStatus{}
			}
			rs.statuses[list[i].Name] = &list[i]
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodResizePending {
			rs.infeasible = c.Reason == v1.PodReasonInfeasible
		}
	}
	return rs
}

// status returns the container's status when it reports resources.
func (rs resizeState) status(c *v1.Container, running bool) *v1.ContainerStatus {
	if !running || rs.statuses == nil {
		return nil
	}
	return rs.statuses[c.Name]
}

func memoryOf(l v1.ResourceList) (int64, bool) {
	if q, ok := l[v1.ResourceMemory]; ok {
		return q.Value(), true
	}
	return 0, false
}

// memoryRequest is the container's effective memory request.
func (rs resizeState) memoryRequest(c *v1.Container, running bool) (int64, bool) {
	spec, specSet := memoryRequest(c)
	cs := rs.status(c, running)
	if cs == nil {
		return spec, specSet
	}
	var v int64
	set := false
	if cs.Resources != nil {
		if a, ok := memoryOf(cs.Resources.Requests); ok {
			v, set = a, true
		}
	}
	if a, ok := memoryOf(cs.AllocatedResources); ok {
		v, set = max(v, a), true
	}
	if rs.infeasible && set {
		return v, true
	}
	return max(v, spec), set || specSet
}

// memoryLimit is the container's effective memory limit.
func (rs resizeState) memoryLimit(c *v1.Container, running bool) (int64, bool) {
	spec, specSet := memoryLimit(c)
	cs := rs.status(c, running)
	if cs == nil || cs.Resources == nil {
		return spec, specSet
	}
	actuated, actuatedSet := memoryOf(cs.Resources.Limits)
	if rs.infeasible {
		return actuated, actuatedSet
	}
	return max(spec, actuated), specSet || actuatedSet
}
