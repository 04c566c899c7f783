package tenantisolation

import (
	"maps"

	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/tenancy"
)

// contribution is what one existing pod adds to its node's summary.
type contribution struct {
	tenant       string
	sharedKernel bool
	exclusive    bool
}

// tenantCount counts one tenant's pods on a node.
type tenantCount struct {
	pods         int32
	sharedKernel int32
	exclusive    int32
}

// nodeSummary is the tenancy of one node's non-infrastructure, non-terminal
// pods. Every question Filter and Score ask ("does another tenant run a
// shared-kernel pod here?") is answered from the totals and one map lookup,
// whatever the number of pods on the node.
type nodeSummary struct {
	tenants map[string]tenantCount
	// Totals over every tenant.
	pods         int32
	sharedKernel int32
	exclusive    int32
}

func (s *nodeSummary) add(c contribution, n int32) {
	if s.tenants == nil {
		s.tenants = make(map[string]tenantCount, 1)
	}
	tc := s.tenants[c.tenant]
	tc.pods += n
	s.pods += n
	if c.sharedKernel {
		tc.sharedKernel += n
		s.sharedKernel += n
	}
	if c.exclusive {
		tc.exclusive += n
		s.exclusive += n
	}
	if tc.pods <= 0 {
		delete(s.tenants, c.tenant)
		return
	}
	s.tenants[c.tenant] = tc
}

func (s *nodeSummary) clone() *nodeSummary {
	if s == nil {
		return &nodeSummary{}
	}
	c := *s
	c.tenants = maps.Clone(s.tenants)
	return &c
}

// own returns tenant's counts; a nil summary is an empty node.
func (s *nodeSummary) own(tenant string) tenantCount {
	if s == nil {
		return tenantCount{}
	}
	return s.tenants[tenant]
}

// others returns the counts of every tenant but the given one.
func (s *nodeSummary) others(tenant string) tenantCount {
	if s == nil {
		return tenantCount{}
	}
	o := s.tenants[tenant]
	return tenantCount{pods: s.pods - o.pods, sharedKernel: s.sharedKernel - o.sharedKernel, exclusive: s.exclusive - o.exclusive}
}

// preFilterState is computed in PreFilter and read by Filter and Score.
//
// The per-node summaries are split in two layers so that Clone stays cheap
// during preemption, which clones the state once per candidate node: base is
// built once in PreFilter and never written again, so clones share it;
// overlay holds the summaries of the nodes that AddPod/RemovePod changed in
// this copy (nominated pods, preemption victims) and is deep-copied.
type preFilterState struct {
	class   tenancy.PodClass
	base    map[string]*nodeSummary
	overlay map[string]*nodeSummary
}

// Clone deep-copies the mutable overlay; base is shared read-only.
func (s *preFilterState) Clone() fwk.StateData {
	if s == nil {
		return nil
	}
	c := &preFilterState{class: s.class, base: s.base}
	if len(s.overlay) > 0 {
		c.overlay = make(map[string]*nodeSummary, len(s.overlay))
		for name, sum := range s.overlay {
			c.overlay[name] = sum.clone()
		}
	}
	return c
}

// summary returns the node's summary, nil when it runs no tenant pods.
func (s *preFilterState) summary(node string) *nodeSummary {
	if sum, ok := s.overlay[node]; ok {
		return sum
	}
	return s.base[node]
}

// update applies a pod added to (n=1) or removed from (n=-1) a node.
func (s *preFilterState) update(node string, c contribution, n int32) {
	sum, ok := s.overlay[node]
	if !ok {
		sum = s.base[node].clone()
		if s.overlay == nil {
			s.overlay = make(map[string]*nodeSummary, 1)
		}
		s.overlay[node] = sum
	}
	sum.add(c, n)
}
