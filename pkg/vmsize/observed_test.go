package vmsize

import (
	"testing"

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
