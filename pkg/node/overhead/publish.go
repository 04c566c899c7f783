package overhead

import (
	"maps"
	"sync"
)

// What the agent publishes changes only when it matters (docs/labels.md,
// "Observed sandbox overhead labels"). A window's statistics move a little
// every sampling round and its count grows by one per sandboxed pod per
// round, so publishing them as they are would update the NodeFeature, and
// through nfd-master the Node, every round: every scheduler's and
// controller's Node informer would see the update. Instead a Publication
// keeps, per handler, the statistics last published and replaces them only
// when
//   - the sample count reaches the next step of the 1-2-5 series (1, 2, 5,
//     10, 20, 50, 100, 200, ...) or the window's size, whichever comes
//     first; the published count is that step (a lower bound of the
//     window's count), or
//   - the p95, the figure the scheduler uses, moved by more than MinChange
//     from the published one: 1/16 of it (6.25%), at least 1 MiB.
//
// p50 and max are published with the p95, as the window had them then;
// they never cause a publication by themselves (max jumps with a single
// outlier). The agent's metrics show the window's figures every round.
//
// With steady measurements a handler is published three times per decade
// of samples: 9 times in all for the default 256-sample window (1, 2, 5,
// 10, 20, 50, 100, 200, 256), then only when a statistic moves.

// MinChangeFloor is the smallest change of a published statistic that is
// republished.
const MinChangeFloor = 1 << 20

// MinChange is how far a statistic must move from its published value p
// (bytes) to be republished: more than p/16, and more than MinChangeFloor.
func MinChange(p int64) int64 { return max(MinChangeFloor, p/16) }

// SampleStep is the count published for n samples in a window of size
// samples: the largest step of the 1-2-5 series not above n, or size once
// the window is full (n >= size). It is 0 for n <= 0.
func SampleStep(n, size int) int {
	if size > 0 && n >= size {
		return size
	}
	step := 0
	for decade := 1; decade <= n; decade *= 10 {
		for _, m := range [...]int{1, 2, 5} {
			if m*decade <= n {
				step = m * decade
			}
		}
	}
	return step
}

// Publication holds the statistics last published per handler. Safe for
// concurrent use; the zero value is not usable, use NewPublication.
type Publication struct {
	size int
	mu   sync.Mutex
	byH  map[string]Stats
}

// NewPublication publishes the statistics of windows of size samples
// (DefaultWindow when size <= 0).
func NewPublication(size int) *Publication {
	if size <= 0 {
		size = DefaultWindow
	}
	return &Publication{size: size, byH: map[string]Stats{}}
}

// Update takes the windows' current statistics and returns what to publish
// and the handlers whose published statistics changed. A handler whose
// change does not matter keeps its published statistics; a handler that no
// longer has a window keeps them too (windows never drop a handler).
func (p *Publication) Update(current map[string]Stats) (published map[string]Stats, changed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h, cur := range current {
		step := SampleStep(cur.Count, p.size)
		if step == 0 {
			continue
		}
		prev, ok := p.byH[h]
		if ok && prev.Count == step && !moved(prev.P95, cur.P95) {
			continue
		}
		cur.Count = step
		p.byH[h] = cur
		changed = append(changed, h)
	}
	return p.publishedLocked(), changed
}

// Published returns the statistics last published per handler.
func (p *Publication) Published() map[string]Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.publishedLocked()
}

func (p *Publication) publishedLocked() map[string]Stats {
	return maps.Clone(p.byH)
}

// moved reports whether cur differs from the published value by more than
// MinChange(published).
func moved(published, cur int64) bool {
	d := cur - published
	if d < 0 {
		d = -d
	}
	return d > MinChange(published)
}
