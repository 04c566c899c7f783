package sandboxfeatures

import (
	"strings"
	"sync"

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
	// Scanning the labels of every node costs about as much as one Filter
	// extension point on a few dozen nodes; it pays off when the scheduler
	// would otherwise run the filters on many nodes that cannot fit.
	maxCandidatesDivisor = 4
	// rescanEvery: once a scan finds a pod's requirements met by too many
	// nodes, the next rescanEvery-1 PreFilters with the same requirements
	// skip the scan (they filter every node, which is always correct).
	rescanEvery = 32
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
	key := requirementsKey(reqs)
	if pl.broad.skip(key) {
		return nil
	}
	limit := len(nodes) / maxCandidatesDivisor
	var names []string
	for _, ni := range nodes {
		node := ni.Node()
		if node == nil || !meetsAll(reqs, labels.Set(node.Labels)) {
			continue
		}
		if len(names) == limit {
			pl.broad.record(key)
			return nil
		}
		names = append(names, node.Name)
	}
	if len(names) == 0 {
		return nil
	}
	return sets.New(names...)
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

// broadRequirements remembers the requirement sets that the last scan found
// met by too many nodes to name them, so that most pods with such
// requirements (plain Kata pods: KVM and the handler) skip the scan. The
// sets come from the configuration and the cluster's runtime handlers, so
// the map stays small.
type broadRequirements struct {
	mu sync.Mutex
	// left counts, by requirements key, the PreFilters that skip the scan
	// before the next one rescans.
	left map[string]int
}

// skip reports whether a PreFilter with these requirements skips the scan.
func (b *broadRequirements) skip(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.left[key]
	if !ok {
		return false
	}
	if n <= 0 {
		delete(b.left, key)
		return false
	}
	b.left[key] = n - 1
	return true
}

// record notes that a scan found the requirements met by too many nodes.
func (b *broadRequirements) record(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left == nil {
		b.left = map[string]int{}
	}
	b.left[key] = rescanEvery - 1
}
