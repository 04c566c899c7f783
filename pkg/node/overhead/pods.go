package overhead

import (
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Target is one running sandboxed pod to measure.
type Target struct {
	// Namespace and Name identify the pod in messages.
	Namespace, Name string
	// UID names the pod's cgroup.
	UID string
	// Handler is the runtime handler the pod runs with (kata-qemu, runsc).
	Handler string
	// ContainerIDs are the running containers' ids, without the scheme.
	ContainerIDs []string
}

// Targets picks, from the pods bound to the node, the running pods whose
// runtimeClassName names a RuntimeClass whose handler is in sandboxed
// (handler name -> true, e.g. from the runtime feature's sandbox
// attribute). handlers maps RuntimeClass name -> handler. Pods without a
// RuntimeClass, with an unknown one, or not running are skipped; a pod
// whose containers are not all running yet is skipped too (its figure
// would be partial).
func Targets(pods []v1.Pod, handlers map[string]string, sandboxed map[string]bool) []Target {
	var out []Target
	for i := range pods {
		p := &pods[i]
		if p.Spec.RuntimeClassName == nil || p.Status.Phase != v1.PodRunning || p.UID == "" {
			continue
		}
		h, ok := handlers[*p.Spec.RuntimeClassName]
		if !ok || !sandboxed[h] {
			continue
		}
		t := Target{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Handler: h}
		complete := len(p.Status.ContainerStatuses) == len(p.Spec.Containers)
		for _, cs := range p.Status.ContainerStatuses {
			id := containerID(cs.ContainerID)
			if cs.State.Running == nil || id == "" {
				complete = false
				break
			}
			t.ContainerIDs = append(t.ContainerIDs, id)
		}
		if complete {
			out = append(out, t)
		}
	}
	return out
}

// containerID strips the runtime scheme: "containerd://abc" -> "abc".
func containerID(s string) string {
	if _, id, ok := strings.Cut(s, "://"); ok {
		return id
	}
	return s
}

// Sampler measures targets and records their overhead by handler.
type Sampler struct {
	Cgroups Cgroups
	// Procs, when set, adds the processes that serve each pod from outside
	// its cgroup (shims, a VMM outside it) to the pod's overhead.
	Procs   *Procs
	Windows *Windows
}

// Measurement is one pod's reading.
type Measurement struct {
	Target
	PodMemory
	// Outside are the pod's processes outside its cgroup (Sampler.Procs).
	Outside []Process
}

// OutsideBytes sums the memory of the processes outside the pod cgroup.
func (m Measurement) OutsideBytes() int64 {
	var s int64
	for _, p := range m.Outside {
		s += p.Bytes
	}
	return s
}

// Total is what the sandbox costs the host beyond its containers: the pod
// cgroup's overhead plus the processes outside it. It is what the window
// records.
func (m Measurement) Total() int64 { return m.Overhead() + m.OutsideBytes() }

// Sample reads every target and adds each overhead to its handler's
// window. It returns the measurements taken and one error per pod it could
// not read (the others still count).
func (s Sampler) Sample(targets []Target) ([]Measurement, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	v, err := s.Cgroups.Version()
	if err != nil {
		return nil, err
	}
	var procs Table
	if s.Procs != nil {
		if procs, err = s.Procs.Scan(); err != nil {
			return nil, err
		}
	}
	var out []Measurement
	var errs []error
	for _, t := range targets {
		pm, err := s.Cgroups.ReadPod(v, t.UID, t.ContainerIDs)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s (%s): %w", t.Namespace, t.Name, t.Handler, err))
			continue
		}
		m := Measurement{Target: t, PodMemory: pm}
		if s.Procs != nil {
			ids := append(sandboxIDs(s.Cgroups.Root, pm.PodDir, t.ContainerIDs), t.ContainerIDs...)
			if m.Outside, err = s.Procs.Outside(procs, pm.PodDir, ids); err != nil {
				// A pod that ends between the two reads: skip it rather
				// than record a figure without its shim.
				errs = append(errs, fmt.Errorf("pod %s/%s (%s): %w", t.Namespace, t.Name, t.Handler, err))
				continue
			}
		}
		s.Windows.Add(t.Handler, m.Total())
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}
