package plugintest

import (
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// Activations records the pods a plugin moves to the active queue: the
// fwk.PodActivator to pass to frameworkruntime.WithPodActivator. It is safe
// for concurrent use (informer handlers call it).
type Activations struct {
	mu   sync.Mutex
	pods []string // namespace/name, in the order they were activated
	n    int
}

// Activate records the pods' keys.
func (a *Activations) Activate(_ klog.Logger, pods map[string]*v1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range pods {
		a.pods = append(a.pods, k)
		a.n++
	}
}

// Take returns the keys recorded since the last Take, sorted, and forgets
// them.
func (a *Activations) Take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.pods
	a.pods = nil
	slices.Sort(out)
	return out
}

// Count returns how many pods were activated in all, taken or not.
func (a *Activations) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}
