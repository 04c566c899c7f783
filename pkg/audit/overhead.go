package audit

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mtscn/mtscn/pkg/vmsize"
)

// HandlerOverhead compares, for one runtime handler on one node, the host
// overhead of a sandbox as the footprint model assumes it (the profile's
// hostOverhead) with what the node agent observed there (the p95 of
// mtscn.io/overhead.<handler>.observed-memory), and says which of the two
// SandboxOverhead sizes the node's sandboxes with (learnedOverhead args;
// docs/vm-footprint.md).
type HandlerOverhead struct {
	Handler string `json:"handler"`
	// Model is the profile's host overhead in bytes (0 without a profile).
	Model int64 `json:"modelBytes"`
	// Observed is the node's published p95 in bytes, over Samples samples.
	Observed int64 `json:"observedBytes"`
	Samples  int   `json:"samples"`
	// Used is the figure SandboxOverhead sizes with, and Source where it
	// comes from: "observed", "observed, capped" or "model".
	Used   int64  `json:"usedBytes"`
	Source string `json:"source"`
}

// handlerOverheads lists the handlers the node published an observation
// for, in name order.
func handlerOverheads(model *vmsize.Model, values vmsize.NodeValues) []HandlerOverhead {
	var out []HandlerOverhead
	for h, v := range values {
		if v.ObservedOverhead == nil {
			continue
		}
		p, _ := model.ProfileFor(h)
		base := p.With(v)
		used := model.ProfileOn(p, v)
		o := HandlerOverhead{Handler: h, Model: base.HostOverhead, Observed: *v.ObservedOverhead,
			Used: used.HostOverhead, Source: used.HostSource}
		if v.ObservedSamples != nil {
			o.Samples = *v.ObservedSamples
		}
		if o.Source == "" {
			o.Source = vmsize.HostModel // learnedOverhead disabled
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b HandlerOverhead) int { return strings.Compare(a.Handler, b.Handler) })
	return out
}

// String reads "runsc 42Mi model, 73Mi observed (40 samples): observed".
func (o HandlerOverhead) String() string {
	return fmt.Sprintf("%s %s model, %s observed (%d samples): %s", o.Handler,
		vmsize.FormatBytes(o.Model, true), vmsize.FormatBytes(o.Observed, true), o.Samples, o.Source)
}

// WriteUsage prints, per node, its pods, VMs, committed memory against
// allocatable, and each handler's modelled against observed sandbox
// overhead ("-" where the node agent published none).
func WriteUsage(w io.Writer, usage []NodeUsage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPODS\tVMS\tCOMMITTED / ALLOCATABLE\tSANDBOX OVERHEAD: MODEL VS OBSERVED")
	for _, u := range usage {
		oh := "-"
		if len(u.Overhead) > 0 {
			parts := make([]string, len(u.Overhead))
			for i, o := range u.Overhead {
				parts[i] = o.String()
			}
			oh = strings.Join(parts, "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s / %s\t%s\n", u.Node, len(u.Pods), u.VMs,
			vmsize.FormatBytes(u.Committed, true), vmsize.FormatBytes(u.Allocatable, false), oh)
	}
	return tw.Flush()
}
