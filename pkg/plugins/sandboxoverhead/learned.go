package sandboxoverhead

import "github.com/mtscn/mtscn/pkg/vmsize"

// observedDropped says whether a node's observed overhead of some handler
// went down or away (mtscn.io/overhead.<handler>.observed-memory): the
// sandboxes already on the node may then commit less, which can make room
// for a pod of any runtime.
func observedDropped(before, now vmsize.NodeValues) bool {
	for h, b := range before {
		if b.ObservedOverhead == nil {
			continue
		}
		n := now[h].ObservedOverhead
		if n == nil || *n < *b.ObservedOverhead {
			return true
		}
	}
	return false
}
