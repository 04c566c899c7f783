package vmsize

import (
	"testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

func TestParseObservedOverheadLabels(t *testing.T) {
	nv, errs := ParseNodeLabels(map[string]string{
		wellknown.ObservedMemoryLabel("runsc"):      "97Mi",
		wellknown.ObservedSamplesLabel("runsc"):     "12",
		wellknown.ObservedMemoryLabel("kata-qemu"):  "lots",
		wellknown.ObservedSamplesLabel("kata-qemu"): "-1",
		wellknown.DefaultMemoryLabel("kata-qemu"):   "2048",
	})
	if len(errs) != 2 {
		t.Errorf("errs = %v, want one per malformed observed label", errs)
	}
	r := nv["runsc"]
	if r.ObservedOverhead == nil || *r.ObservedOverhead != 97<<20 || r.ObservedSamples == nil || *r.ObservedSamples != 12 {
		t.Errorf("runsc = %+v, want 97Mi over 12 samples", r)
	}
	k := nv["kata-qemu"]
	if k.ObservedOverhead != nil || k.ObservedSamples != nil || k.DefaultMemory == nil || *k.DefaultMemory != 2048<<20 {
		t.Errorf("kata-qemu = %+v, want only default-memory 2Gi", k)
	}
}

// TestProfileOnLearnedBounds: a node's observed overhead replaces the
// profile's HostOverhead only when learnedOverhead allows it, within its
// bounds, and the reason says which figure was used.
func TestProfileOnLearnedBounds(t *testing.T) {
	const mi = 1 << 20
	on := config.LearnedOverhead{Enabled: true, MinSamples: 20, MaxFactor: 4}
	n := func(i int) *int { return &i }
	b := func(v int64) *int64 { return &v }
	kata := Profile{Handler: "kata-qemu*", Sizing: config.SizingHotplug, DefaultMemory: 2048 * mi, HostOverhead: 96 * mi}
	gvisor := Profile{Handler: "runsc*", Sizing: config.SizingUserSpace, HostOverhead: 35 * mi}
	remote := Profile{Handler: "kata-remote*", Sizing: config.SizingOffNode}
	for _, tc := range []struct {
		name       string
		learned    config.LearnedOverhead
		profile    Profile
		values     Values
		wantHost   int64
		wantSource string
		wantReason string
	}{
		{"no observation: the model, unmarked", on, kata, Values{}, 96 * mi, "", "2Gi default guest memory + 96Mi VMM"},
		{"observed above the model", on, kata, Values{ObservedOverhead: b(120 * mi), ObservedSamples: n(20)}, 120 * mi, HostObserved,
			"2Gi default guest memory + 120Mi VMM, observed"},
		{"too few samples: the model", on, kata, Values{ObservedOverhead: b(120 * mi), ObservedSamples: n(19)}, 96 * mi, HostModel,
			"2Gi default guest memory + 96Mi VMM, model"},
		{"samples label missing: the model", on, kata, Values{ObservedOverhead: b(120 * mi)}, 96 * mi, HostModel, ""},
		{"below the model: never lower by default", on, kata, Values{ObservedOverhead: b(40 * mi), ObservedSamples: n(200)}, 96 * mi, HostModel, ""},
		{"below the model when allowed", config.LearnedOverhead{Enabled: true, MinSamples: 20, MaxFactor: 4, AllowBelowModel: true}, kata,
			Values{ObservedOverhead: b(40 * mi), ObservedSamples: n(200)}, 40 * mi, HostObserved, "2Gi default guest memory + 40Mi VMM, observed"},
		{"capped at maxFactor × the model", on, kata, Values{ObservedOverhead: b(1024 * mi), ObservedSamples: n(30)}, 384 * mi, HostObservedCapped,
			"2Gi default guest memory + 384Mi VMM, observed, capped"},
		{"disabled: the model, unmarked", config.LearnedOverhead{MinSamples: 20, MaxFactor: 4}, kata,
			Values{ObservedOverhead: b(120 * mi), ObservedSamples: n(30)}, 96 * mi, "", ""},
		{"gVisor observed", on, gvisor, Values{ObservedOverhead: b(73 * mi), ObservedSamples: n(25)}, 73 * mi, HostObserved,
			"0Mi requests + 73Mi gVisor sandbox, observed"},
		{"off-node: nothing on the node", on, remote, Values{ObservedOverhead: b(73 * mi), ObservedSamples: n(25)}, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Model{overcommitRatio: 1, learned: tc.learned}
			p := m.ProfileOn(tc.profile, tc.values)
			if p.HostOverhead != tc.wantHost || p.HostSource != tc.wantSource {
				t.Errorf("host overhead %dMi from %q, want %dMi from %q", p.HostOverhead/mi, p.HostSource, tc.wantHost/mi, tc.wantSource)
			}
			if tc.wantReason == "" {
				return
			}
			f := m.Footprint(Demand{Runtime: tenancy.Runtime{Handler: "h", Sandboxed: true}}, p, true)
			if got := f.Explain(); got != tc.wantReason {
				t.Errorf("Explain() = %q, want %q", got, tc.wantReason)
			}
		})
	}
}
