package sandboxfeatures

import (
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
)

const (
	// minNodesToNarrow is the smallest cluster on which PreFilter names the
	// candidate nodes. Below it, Filter on every node costs well under a
	// millisecond, and every rejected node keeps its own "node lacks"
	// reason in the pod's PodScheduled message.
	minNodesToNarrow = 100
	// maxCandidatesDivisor: PreFilter names the candidate nodes only when
	// at most 1/maxCandidatesDivisor of the nodes meet the pod's
	// requirements (TDX, SEV-SNP, QAT VFs on vfio-pci: scarce hardware).
	// Below that, the filters the scheduler skips cost far more than the
	// scan; above it, the scheduler finds enough feasible nodes soon anyway.
	maxCandidatesDivisor = 4
	// rescanEvery: once a scan finds a pod's requirements met by too many
	// nodes, the next rescanEvery-1 PreFilters with the same requirements
	// skip the scan (they filter every node, which is always correct).
	rescanEvery = 32
	// maxScans bounds the requirement sets remembered; the sets come from
	// the configuration and the cluster's runtime handlers, so it is
	// reached only when handlers come and go.
	maxScans = 64
)

// candidates returns the names of the nodes that meet every requirement,
// or nil (every node is a candidate) when the cluster is small, when more
// than a quarter of its nodes meet them, or when none does (then Filter
// gives each node's reason). nodes are the cycle's snapshot, the same
// NodeInfos Filter is called with, so the set holds exactly the nodes on
// which this plugin's Filter succeeds.
func (pl *SandboxFeatures) candidates(reqs []*requirement, nodes []fwk.NodeInfo) sets.Set[string] {
	if len(nodes) < minNodesToNarrow {
		return nil
	}
	sc := pl.scans.get(requirementsKey(reqs))
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.skip > 0 {
		sc.skip--
		return nil
	}
	names := sc.scan(reqs, nodes, len(nodes)/maxCandidatesDivisor)
	if names == nil {
		sc.skip = rescanEvery - 1
		return nil
	}
	if len(names) == 0 {
		return nil
	}
	return sets.New(names...)
}

// scans holds one scan per requirement set.
type scans struct {
	mu     sync.Mutex
	bySets map[string]*scan
}

func (s *scans) get(key string) *scan {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.bySets[key]; ok {
		return sc
	}
	if s.bySets == nil || len(s.bySets) >= maxScans {
		s.bySets = map[string]*scan{}
	}
	sc := &scan{}
	s.bySets[key] = sc
	return sc
}

// scan remembers, for one requirement set, which nodes of the last list
// met it. A node's labels change only with a new Node object (the
// scheduler's cache holds the informer's objects, which nobody modifies in
// place), so a node that is the same object at the same index of the list
// as in the last scan needs no label lookup: its answer is reused. That
// keeps the scan at one pointer comparison per unchanged node.
type scan struct {
	mu sync.Mutex
	// skip counts the PreFilters that skip the scan because the last one
	// found the requirements met by too many nodes.
	skip  int
	nodes []*v1.Node
	meets []bool
}

// scan returns the names of the nodes that meet reqs, or nil when more
// than limit do (it stops counting there).
func (sc *scan) scan(reqs []*requirement, nodes []fwk.NodeInfo, limit int) []string {
	if len(sc.nodes) != len(nodes) {
		sc.nodes = make([]*v1.Node, len(nodes))
		sc.meets = make([]bool, len(nodes))
	}
	names := []string{}
	for i, ni := range nodes {
		node := ni.Node()
		if node != sc.nodes[i] {
			sc.nodes[i] = node
			sc.meets[i] = node != nil && meetsAll(reqs, labels.Set(node.Labels))
		}
		if !sc.meets[i] {
			continue
		}
		if len(names) == limit {
			return nil
		}
		names = append(names, node.Name)
	}
	return names
}

// meetsAll reports whether labels meet every requirement; missingOn is
// the same test that names what is missing. It tests the last requirement
// first: runtime requirements (KVM, the handler) come first and device ones
// after, so the scarcest feature usually rejects a node in one lookup.
func meetsAll(reqs []*requirement, set labels.Set) bool {
	for i := len(reqs) - 1; i >= 0; i-- {
		if !reqs[i].sel.Matches(set) {
			return false
		}
	}
	return true
}

func requirementsKey(reqs []*requirement) string {
	if len(reqs) == 1 {
		return reqs[0].key
	}
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = r.key
	}
	return strings.Join(keys, "\x00")
}
