package audit

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestUsageObservedOverhead: a node whose agent published an observed
// kata-qemu overhead shows it next to the model, its VMs are counted with
// it, and the table prints the comparison; a node without one shows "-".
func TestUsageObservedOverhead(t *testing.T) {
	const mi = 1 << 20
	labels := map[string]string{
		wellknown.ObservedMemoryLabel("kata-qemu"): "150Mi", wellknown.ObservedSamplesLabel("kata-qemu"): "40",
		wellknown.ObservedMemoryLabel("runsc"): "73Mi", wellknown.ObservedSamplesLabel("runsc"): "3",
	}
	snap := ocSnapshot([]*v1.Node{ocNode("learned", "16Gi", nil, labels), ocNode("plain", "16Gi", nil, nil)},
		append(vms(2, "a", "kata-qemu", "learned"), vms(2, "a", "kata-qemu", "plain")...)...)
	usage, err := Usage(snap, ResourceOptions{Tenancy: tenancy.Config{
		TenantLabelKeys: configv1.DefaultTenantLabelKeys, SandboxedHandlers: configv1.DefaultSandboxedHandlers, OffNodeHandlers: configv1.DefaultOffNodeHandlers,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []HandlerOverhead{
		{Handler: "kata-qemu", Model: 96 * mi, Observed: 150 * mi, Samples: 40, Used: 150 * mi, Source: "observed"},
		// 42Mi: the default gVisor profile (docs/vm-footprint.md "gVisor").
		{Handler: "runsc", Model: 42 * mi, Observed: 73 * mi, Samples: 3, Used: 42 * mi, Source: "model"},
	}
	if diff := cmp.Diff(want, usage[0].Overhead); diff != "" {
		t.Errorf("node learned: overhead (-want,+got):\n%s", diff)
	}
	if usage[1].Overhead != nil {
		t.Errorf("node plain: overhead %+v, want none", usage[1].Overhead)
	}
	// 2 × (2048 + 512 + 150) against 2 × (2048 + 512 + 96).
	if got, want := usage[0].Committed-usage[1].Committed, int64(2*54*mi); got != want {
		t.Errorf("committed difference %dMi, want %dMi: the observed VMM counts on its node", got/mi, want/mi)
	}
	var b bytes.Buffer
	if err := WriteUsage(&b, usage); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{"SANDBOX OVERHEAD: MODEL VS OBSERVED",
		"kata-qemu 96Mi model, 150Mi observed (40 samples): observed; runsc 42Mi model, 73Mi observed (3 samples): model"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasSuffix(lines[2], " -") {
		t.Errorf("want a header and one line per node, node plain ending in \"-\":\n%s", out)
	}
}
