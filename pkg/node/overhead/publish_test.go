package overhead

import (
	"slices"
	"testing"
)

func TestSampleStep(t *testing.T) {
	for _, c := range []struct{ n, size, want int }{
		{0, 256, 0}, {1, 256, 1}, {3, 256, 2}, {4, 256, 2}, {5, 256, 5}, {9, 256, 5},
		{19, 256, 10}, {20, 256, 20}, {49, 256, 20}, {50, 256, 50}, {199, 256, 100},
		{255, 256, 200}, {256, 256, 256}, {1000, 256, 256}, {1000, 2000, 1000}, {7, 5, 5},
	} {
		if got := SampleStep(c.n, c.size); got != c.want {
			t.Errorf("SampleStep(%d, %d) = %d, want %d", c.n, c.size, got, c.want)
		}
	}
}

// TestPublicationSteady: a node whose sandboxes cost the same (within
// half a MiB) round after round is republished only when its sample count
// reaches the next 1-2-5 step, 9 times over 1000 rounds, however the
// figures jitter; a real change republishes at once.
func TestPublicationSteady(t *testing.T) {
	w, p := NewWindows(0), NewPublication(0)
	var publishes []int // sample counts at which something was published
	for round := 1; round <= 1000; round++ {
		jitter := int64(round%3-1) * (mib / 2) // -0.5, 0, +0.5 MiB
		w.Add("runsc", 41*mib+jitter)
		if _, changed := p.Update(w.Stats()); len(changed) > 0 {
			publishes = append(publishes, round)
		}
	}
	if want := []int{1, 2, 5, 10, 20, 50, 100, 200, 256}; !slices.Equal(publishes, want) {
		t.Errorf("published at rounds %v, want %v (the 1-2-5 steps, then the full window)", publishes, want)
	}
	got := p.Published()["runsc"]
	if got.Count != 256 || got.P95 < 41*mib-mib/2 || got.P95 > 41*mib+mib/2 {
		t.Errorf("published %+v, want 256 samples and a p95 of 41 MiB ± 0.5", got)
	}

	// The sandboxes now cost 48 MiB: once the p95 moved by more than 1/16
	// (2.6 MiB), it is published, in the round it moved.
	for round := 1; ; round++ {
		w.Add("runsc", 48*mib)
		pub, changed := p.Update(w.Stats())
		if len(changed) == 0 {
			continue
		}
		if pub["runsc"].P95 != 48*mib || pub["runsc"].Count != 256 {
			t.Errorf("republished %+v, want p95 48 MiB over 256 samples", pub["runsc"])
		}
		// 5% of the window above the old p95 takes 13 samples, 14 to
		// move it.
		if round > 14 {
			t.Errorf("the new figure was published after %d rounds, want 14 at most", round)
		}
		break
	}
}

func TestPublicationMinChange(t *testing.T) {
	for _, c := range []struct {
		published, current int64
		want               bool
	}{
		{41 * mib, 41*mib + mib/2, false},
		{41 * mib, 43 * mib, false}, // 2 MiB <= 41/16 MiB
		{41 * mib, 44 * mib, true},
		{41 * mib, 38 * mib, true},
		{4 * mib, 5 * mib, false}, // the 1 MiB floor
		{4 * mib, 5*mib + 1, true},
		{96 * mib, 102 * mib, false},
		{96 * mib, 103 * mib, true},
	} {
		if got := moved(c.published, c.current); got != c.want {
			t.Errorf("moved(%d MiB, %.2f MiB) = %v, want %v", c.published/mib, float64(c.current)/float64(mib), got, c.want)
		}
	}
}

// TestPublicationPerHandler: each handler is published on its own; one
// that stops being sampled keeps its published figures.
func TestPublicationPerHandler(t *testing.T) {
	w, p := NewWindows(0), NewPublication(0)
	w.Add("runsc", 41*mib)
	if _, changed := p.Update(w.Stats()); !slices.Equal(changed, []string{"runsc"}) {
		t.Fatalf("changed %v, want [runsc]", changed)
	}
	w.Add("kata-qemu", 96*mib)
	pub, changed := p.Update(w.Stats())
	if !slices.Equal(changed, []string{"kata-qemu"}) || pub["runsc"].Count != 1 || pub["kata-qemu"].P95 != 96*mib {
		t.Errorf("published %+v (changed %v), want runsc unchanged and kata-qemu's first sample", pub, changed)
	}
	if pub, changed := p.Update(nil); len(changed) != 0 || len(pub) != 2 {
		t.Errorf("without samples: published %+v, changed %v; want both handlers kept, none changed", pub, changed)
	}
}
