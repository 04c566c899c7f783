package tenantisolation

import (
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/cyclestate"
	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"
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

// preFilterState is computed in PreFilter and read by Filter and Score. It
// holds only the incoming pod's class and the cycle's View and number, and
// is never written after PreFilter: Clone (once per preemption candidate)
// returns it as is. Nominated pods and preemption victims need no
// PreFilterExtensions: the framework filters a modified copy of the
// NodeInfo, whose new generation misses the summary cache and is summarized
// from the copy's own pods.
type preFilterState struct {
	class tenancy.PodClass
	// view classified the incoming pod; the cycle classifies the pods on
	// nodes through it too, and uses only summaries computed under it.
	view *classify.View
	// cycle is the summary cache's epoch (the View's version) and cycle
	// number.
	cycle nodecache.Cycle
}

// Clone returns the state itself: it is immutable.
func (s *preFilterState) Clone() fwk.StateData { return s }

func getPreFilterState(cycleState fwk.CycleState) (*preFilterState, error) {
	return cyclestate.Read[*preFilterState](cycleState, preFilterStateKey)
}
