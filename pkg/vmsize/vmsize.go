package vmsize

import (
	"fmt"
	"math"
	"path"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/tenancy"
)

// Profile is a runtime handler's VM sizing, in bytes.
type Profile struct {
	// Handler is the glob pattern the profile was configured for.
	Handler string
	// Sizing is Hotplug, Static or OffNode.
	Sizing config.SizingMode
	// DefaultMemory is Kata's default_memory.
	DefaultMemory int64
	// OverheadMemory is runtime-rs' overhead_memory (Static sizing).
	OverheadMemory int64
	// HostOverhead is the VMM and shim memory on the host.
	HostOverhead int64
	// SharedMemoryBacked: the guest RAM lives in /dev/shm.
	SharedMemoryBacked bool
	// HostSource says where HostOverhead comes from on a node: "" the
	// profile (no observation on the node), HostModel the profile although
	// the node published an observation (too few samples, or below the
	// model), HostObserved or HostObservedCapped the node's observation.
	HostSource string
}

// Where a footprint's host overhead comes from (Profile.HostSource), as
// its reason says it: "96Mi VMM, model", "120Mi VMM, observed".
const (
	HostModel          = "model"
	HostObserved       = "observed"
	HostObservedCapped = "observed, capped"
)

// ProfileFromConfig converts a configured profile to bytes.
func ProfileFromConfig(p config.HypervisorProfile) Profile {
	return Profile{
		Handler:            p.Handler,
		Sizing:             p.Sizing,
		DefaultMemory:      p.DefaultMemory.Value(),
		OverheadMemory:     p.OverheadMemory.Value(),
		HostOverhead:       p.HostOverhead.Value(),
		SharedMemoryBacked: p.SharedMemoryBacked,
	}
}

// With returns the profile with a node's own Kata values applied (not its
// observed overhead: Model.ProfileOn applies that within the args' bounds).
func (p Profile) With(v Values) Profile {
	if v.Sizing != nil {
		p.Sizing = *v.Sizing
	}
	if v.DefaultMemory != nil {
		p.DefaultMemory = *v.DefaultMemory
	}
	if v.OverheadMemory != nil {
		p.OverheadMemory = *v.OverheadMemory
	}
	if v.SharedMemoryBacked != nil {
		p.SharedMemoryBacked = *v.SharedMemoryBacked
	}
	return p
}

// ProfileOn returns the profile with a node's values applied: its own
// Kata values (With), and its observed host overhead where learnedOverhead
// allows it: enabled, resting on at least minSamples samples, capped at
// maxFactor × the profile's HostOverhead, and never below it unless
// allowBelowModel. Off-node profiles keep no host overhead on the node.
func (m *Model) ProfileOn(p Profile, v Values) Profile {
	p = p.With(v)
	l := m.learned
	if !l.Enabled || v.ObservedOverhead == nil || p.Sizing == config.SizingOffNode {
		return p
	}
	p.HostSource = HostModel
	if v.ObservedSamples == nil || *v.ObservedSamples < int(l.MinSamples) {
		return p
	}
	obs := *v.ObservedOverhead
	if obs < p.HostOverhead && !l.AllowBelowModel {
		return p
	}
	p.HostSource = HostObserved
	if limit := int64(math.Ceil(float64(p.HostOverhead) * l.MaxFactor)); obs > limit {
		obs = limit
		p.HostSource = HostObservedCapped
	}
	p.HostOverhead = obs
	return p
}

// Model sizes pods. Build it once from the plugin's args with NewModel.
type Model struct {
	profiles        []Profile
	overcommitRatio float64
	vfioResources   []string
	vfioPinned      int64
	learned         config.LearnedOverhead
}

// NewModel builds a model from validated SandboxOverhead args.
func NewModel(args *config.SandboxOverheadArgs) *Model {
	m := &Model{
		overcommitRatio: args.OvercommitRatio,
		vfioResources:   append([]string(nil), args.VFIOResources...),
		vfioPinned:      args.VFIOPinnedOverhead.Value(),
		learned:         args.LearnedOverhead,
	}
	if m.overcommitRatio < 1 {
		m.overcommitRatio = 1
	}
	for _, p := range args.Profiles {
		m.profiles = append(m.profiles, ProfileFromConfig(p))
	}
	return m
}

// OvercommitRatio returns the ratio guest memory is divided by.
func (m *Model) OvercommitRatio() float64 { return m.overcommitRatio }

// ProfileFor returns the first profile whose pattern matches handler.
func (m *Model) ProfileFor(handler string) (Profile, bool) {
	for _, p := range m.profiles {
		if ok, _ := path.Match(p.Handler, handler); ok {
			return p, true
		}
	}
	return Profile{}, false
}

// Demand is what a pod asks of any node: its memory figures under
// Kubernetes' rules and its runtime. It does not depend on the node.
type Demand struct {
	// Runtime is the pod's classified runtime (handler, sandboxed, off-node).
	Runtime tenancy.Runtime
	// Requests is the effective memory request (init containers, sidecars
	// and pod-level resources per Kubernetes' rules), without overhead.
	Requests int64
	// Overhead is pod.spec.overhead's memory (the RuntimeClass's podFixed).
	Overhead int64
	// Limits is the effective memory limit with the same rules; a container
	// without a limit adds 0, as in Kata.
	Limits int64
	// AnyLimit says some container sets a memory limit.
	AnyLimit bool
	// VFIO says the pod requests a device passed through with VFIO.
	VFIO bool
}

// Floor returns requests + overhead: what Kubernetes already counts.
func (d Demand) Floor() int64 { return d.Requests + d.Overhead }

// Demand computes a pod's demand. rt is the pod's classified runtime
// (pkg/tenancy); the zero value is the node's default runtime.
func (m *Model) Demand(pod *v1.Pod, rt tenancy.Runtime) Demand {
	d := Demand{Runtime: rt}
	rs := newResizeState(pod)
	d.Requests, _ = effective(pod, rs.memoryRequest)
	d.Limits, d.AnyLimit = effective(pod, rs.memoryLimit)
	if r := pod.Spec.Resources; r != nil {
		// Pod-level resources bound the pod as a whole.
		if q, ok := r.Requests[v1.ResourceMemory]; ok {
			d.Requests = q.Value()
		} else if q, ok := r.Limits[v1.ResourceMemory]; ok {
			d.Requests = q.Value()
		}
		if q, ok := r.Limits[v1.ResourceMemory]; ok {
			d.Limits, d.AnyLimit = q.Value(), true
		}
	}
	if q, ok := pod.Spec.Overhead[v1.ResourceMemory]; ok {
		d.Overhead = q.Value()
	}
	d.VFIO = m.requestsVFIO(pod)
	return d
}

func memoryRequest(c *v1.Container) (int64, bool) {
	if q, ok := c.Resources.Requests[v1.ResourceMemory]; ok {
		return q.Value(), true
	}
	// The API server defaults a missing request to the limit; objects that
	// did not go through it (simulate files) get the same treatment.
	return memoryLimit(c)
}

func memoryLimit(c *v1.Container) (int64, bool) {
	if q, ok := c.Resources.Limits[v1.ResourceMemory]; ok {
		return q.Value(), true
	}
	return 0, false
}

// effective applies Kubernetes' effective-resource rules (KEP-753 sidecars)
// to one per-container figure: regular containers and sidecars run
// together; each regular init container runs alone next to the sidecars
// started before it; the pod needs the larger of the two. running says
// the container is a regular container or a sidecar (the ones an in-place
// resize applies to).
func effective(pod *v1.Pod, get func(c *v1.Container, running bool) (int64, bool)) (int64, bool) {
	var sum, sidecars, initPeak int64
	anySet := false
	for i := range pod.Spec.Containers {
		v, ok := get(&pod.Spec.Containers[i], true)
		sum += v
		anySet = anySet || ok
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
		v, ok := get(c, sidecar)
		anySet = anySet || ok
		if sidecar {
			sum += v
			sidecars += v
			initPeak = max(initPeak, sidecars)
			continue
		}
		initPeak = max(initPeak, v+sidecars)
	}
	return max(sum, initPeak), anySet
}

func (m *Model) requestsVFIO(pod *v1.Pod) bool {
	if len(m.vfioResources) == 0 {
		return false
	}
	check := func(cs []v1.Container) bool {
		for i := range cs {
			for _, rl := range []v1.ResourceList{cs[i].Resources.Limits, cs[i].Resources.Requests} {
				for name, q := range rl {
					// Devices are extended resources (domain/name).
					if strings.IndexByte(string(name), '/') >= 0 && !q.IsZero() && tenancy.MatchAny(m.vfioResources, string(name)) {
						return true
					}
				}
			}
		}
		return false
	}
	return check(pod.Spec.Containers) || check(pod.Spec.InitContainers)
}

// Footprint is what a pod commits on a node, with every term named.
type Footprint struct {
	// VM says the pod boots a VM on the node (it counts against
	// mtscn.io/sandboxes).
	VM bool
	// Sizing is the mode the VM was sized with ("" when there is no VM).
	Sizing config.SizingMode
	// BaseMemory is the guest memory that does not come from limits:
	// default_memory (Hotplug, or Static without limits) or overhead_memory
	// (Static with limits).
	BaseMemory int64
	// Limits is the guest memory that comes from the containers' limits.
	Limits int64
	// Guest is BaseMemory + Limits: the VM's RAM.
	Guest int64
	// Host is the VMM and shim memory on the host.
	Host int64
	// HostSource is the profile's HostSource: where Host comes from.
	HostSource string
	// Pinned is the extra locked memory of a VFIO VM.
	Pinned int64
	// Ratio is the overcommit ratio the guest was divided by (1 when the
	// guest is pinned).
	Ratio float64
	// VMCommitted is the VM's own figure: Guest/Ratio + Host + Pinned.
	VMCommitted int64
	// Floor is requests + overhead, what Kubernetes counts.
	Floor int64
	// Committed is max(VMCommitted, Floor): what the pod commits.
	Committed int64
	// SharedMemory is the guest RAM (divided by Ratio) that lives in
	// /dev/shm and counts against mtscn.io/sandbox-memory.
	SharedMemory int64
}

// Footprint sizes a demand with a profile (usually ProfileFor(handler),
// with the node's Values applied). hasProfile false means the handler has
// no VM profile (e.g. gVisor): the pod commits what Kubernetes counts.
func (m *Model) Footprint(d Demand, p Profile, hasProfile bool) Footprint {
	f := Footprint{Floor: d.Floor(), Ratio: 1}
	if !d.Runtime.Sandboxed || d.Runtime.OffNode || !hasProfile || p.Sizing == config.SizingOffNode {
		f.Committed = f.Floor
		return f
	}
	if p.Sizing == config.SizingUserSpace {
		// gVisor: no guest; the sandbox's memory comes on top of the
		// requests, unless the overhead already covers it.
		f.Sizing = p.Sizing
		f.Host, f.HostSource = p.HostOverhead, p.HostSource
		f.VMCommitted = d.Requests + f.Host
		f.Committed = max(f.VMCommitted, f.Floor)
		return f
	}
	f.VM = true
	f.Sizing = p.Sizing
	switch p.Sizing {
	case config.SizingStatic:
		if d.AnyLimit {
			f.Limits = d.Limits
			f.BaseMemory = p.OverheadMemory
		} else {
			f.BaseMemory = p.DefaultMemory
		}
	default: // Hotplug
		f.BaseMemory = p.DefaultMemory
		f.Limits = d.Limits
	}
	f.Guest = f.BaseMemory + f.Limits
	f.Host, f.HostSource = p.HostOverhead, p.HostSource
	counted := f.Guest
	if d.VFIO {
		// Every guest page is pinned for DMA: no overcommit, plus the
		// locked-memory margin KubeVirt budgets.
		f.Pinned = m.vfioPinned
	} else if m.overcommitRatio > 1 {
		f.Ratio = m.overcommitRatio
		counted = int64(math.Ceil(float64(f.Guest) / m.overcommitRatio))
	}
	f.VMCommitted = counted + f.Host + f.Pinned
	if p.SharedMemoryBacked {
		f.SharedMemory = counted
	}
	f.Committed = max(f.VMCommitted, f.Floor)
	return f
}

// PodFootprint is Footprint(Demand(pod, rt), ProfileFor(handler) with the
// node's values): the one-call form for tools that size a few pods.
func (m *Model) PodFootprint(pod *v1.Pod, rt tenancy.Runtime, nv NodeValues) Footprint {
	d := m.Demand(pod, rt)
	p, ok := m.ProfileFor(rt.Handler)
	if v, has := nv[rt.Handler]; has {
		p = m.ProfileOn(p, v)
		ok = ok || v.Sizing != nil
	}
	return m.Footprint(d, p, ok)
}

// Explain lists the terms of the footprint for failure messages, e.g.
// "2Gi default guest memory + 512Mi limits + 96Mi VMM".
func (f Footprint) Explain() string {
	if f.Sizing == config.SizingUserSpace {
		if f.Floor > f.VMCommitted {
			return fmt.Sprintf("%s requests + overhead", FormatBytes(f.Floor, true))
		}
		return fmt.Sprintf("%s requests + %s gVisor sandbox%s", FormatBytes(f.VMCommitted-f.Host, true), FormatBytes(f.Host, true), f.hostSource())
	}
	if !f.VM {
		return fmt.Sprintf("%s requests + overhead", FormatBytes(f.Floor, true))
	}
	var guest string
	switch {
	case f.Sizing == config.SizingStatic && f.Limits > 0:
		guest = fmt.Sprintf("%s limits + %s overhead_memory", FormatBytes(f.Limits, true), FormatBytes(f.BaseMemory, true))
	case f.Sizing == config.SizingStatic:
		guest = fmt.Sprintf("%s default guest memory, no limits", FormatBytes(f.BaseMemory, true))
	case f.Limits > 0:
		guest = fmt.Sprintf("%s default guest memory + %s limits", FormatBytes(f.BaseMemory, true), FormatBytes(f.Limits, true))
	default:
		guest = fmt.Sprintf("%s default guest memory", FormatBytes(f.BaseMemory, true))
	}
	if f.Ratio > 1 {
		guest = fmt.Sprintf("(%s) / %g overcommit", guest, f.Ratio)
	}
	s := guest
	if f.Host > 0 || f.HostSource != "" {
		s += fmt.Sprintf(" + %s VMM%s", FormatBytes(f.Host, true), f.hostSource())
	}
	if f.Pinned > 0 {
		s += fmt.Sprintf(" + %s VFIO pinning", FormatBytes(f.Pinned, true))
	}
	if f.Floor > f.VMCommitted {
		s = fmt.Sprintf("requests + overhead, more than the VM's %s: %s", FormatBytes(f.VMCommitted, true), s)
	}
	return s
}

// hostSource is ", observed" or ", model" when the node published an
// observed overhead for the handler, "" when it did not.
func (f Footprint) hostSource() string {
	if f.HostSource == "" {
		return ""
	}
	return ", " + f.HostSource
}

// FormatBytes prints a byte count the way Kubernetes users read memory:
// whole Mi below 1Gi, else Gi with one decimal ("2.6Gi", "2Gi"). roundUp
// rounds needs up and availabilities down, so that a message never shows a
// need that seems to fit.
func FormatBytes(b int64, roundUp bool) string {
	const mi, gi = 1 << 20, 1 << 30
	neg := b < 0
	if neg {
		b = -b
		roundUp = !roundUp
	}
	var s string
	if b < gi {
		n := b / mi
		if roundUp && b%mi != 0 {
			n++
		}
		s = fmt.Sprintf("%dMi", n)
		if n == 1024 {
			s = "1Gi"
		}
	} else {
		tenths := b * 10 / gi
		if roundUp && (b*10)%gi != 0 {
			tenths++
		}
		if tenths%10 == 0 {
			s = fmt.Sprintf("%dGi", tenths/10)
		} else {
			s = fmt.Sprintf("%d.%dGi", tenths/10, tenths%10)
		}
	}
	if neg {
		return "-" + s
	}
	return s
}
