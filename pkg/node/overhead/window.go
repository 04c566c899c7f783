package overhead

import (
	"slices"
	"sync"
)

// DefaultWindow is how many samples a handler keeps by default.
const DefaultWindow = 256

// Stats summarise one handler's window, in bytes.
type Stats struct {
	P50, P95, Max int64
	Count         int
}

// Windows keep the last Size samples per runtime handler. Safe for
// concurrent use. The zero value is not usable; use NewWindows.
type Windows struct {
	size int
	mu   sync.Mutex
	byH  map[string]*ring
}

type ring struct {
	buf  []int64
	next int
}

// NewWindows keeps size samples per handler (DefaultWindow when size <= 0).
func NewWindows(size int) *Windows {
	if size <= 0 {
		size = DefaultWindow
	}
	return &Windows{size: size, byH: map[string]*ring{}}
}

// Add records one sample for handler, dropping the oldest when full.
func (w *Windows) Add(handler string, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.byH[handler]
	if r == nil {
		r = &ring{buf: make([]int64, 0, w.size)}
		w.byH[handler] = r
	}
	if len(r.buf) < w.size {
		r.buf = append(r.buf, bytes)
		return
	}
	r.buf[r.next] = bytes
	r.next = (r.next + 1) % w.size
}

// Stats returns each handler's summary (nearest-rank percentiles).
func (w *Windows) Stats() map[string]Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]Stats, len(w.byH))
	for h, r := range w.byH {
		s := slices.Clone(r.buf)
		slices.Sort(s)
		out[h] = Stats{P50: rank(s, 50), P95: rank(s, 95), Max: s[len(s)-1], Count: len(s)}
	}
	return out
}

// rank is the nearest-rank percentile p of sorted, non-empty s.
func rank(s []int64, p int) int64 {
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)]
}
