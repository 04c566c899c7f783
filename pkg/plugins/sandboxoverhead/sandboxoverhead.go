package sandboxoverhead

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mtscn/mtscn/pkg/plugins/internal/nodecache"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/plugins/internal/classify"
	"github.com/mtscn/mtscn/pkg/plugins/internal/metrics"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// SandboxOverhead is a plugin that checks that a node can hold the memory
// the pod's VM really commits (F1), the guest RAM /dev/shm can back (F2) and
// one more VM (F3), and scores nodes by committed memory.
type SandboxOverhead struct {
	model *vmsize.Model
	// views classify runtimes; a cycle uses one View throughout (see
	// classify.Views for the race this closes).
	views    *classify.Views
	strategy config.ScoringStrategyType
	// cache holds each node's summary by NodeInfo generation and
	// RuntimeClass epoch (pkg/plugins/internal/nodecache).
	cache nodecache.Cache[*nodeSummary]
	// peaks are the guests of VMs resized down in place (resize.go).
	peaks guestPeaks
	// profile is the scheduler profile the plugin serves, the profile
	// label of its committed-memory gauge.
	profile string
}

var (
	_ fwk.PreFilterPlugin   = &SandboxOverhead{}
	_ fwk.FilterPlugin      = &SandboxOverhead{}
	_ fwk.PreScorePlugin    = &SandboxOverhead{}
	_ fwk.ScorePlugin       = &SandboxOverhead{}
	_ fwk.ScoreExtensions   = &SandboxOverhead{}
	_ fwk.EnqueueExtensions = &SandboxOverhead{}
	_ fwk.SignPlugin        = &SandboxOverhead{}
)

const (
	// Name is the name of the plugin used in the registry and configurations.
	Name = names.SandboxOverhead

	preFilterStateKey fwk.StateKey = "PreFilter" + Name

	// ErrReasonMemory starts the reason of an F1 rejection: the node's
	// uncommitted memory cannot hold the pod's footprint. The rest of the
	// reason gives the pod's footprint and its terms, never the node's
	// numbers (those are logged at V(4)).
	ErrReasonMemory = "insufficient committed memory"
	// ErrReasonSandboxMemory starts the reason of an F2 rejection: the
	// node's /dev/shm cannot back the guest RAM.
	ErrReasonSandboxMemory = "insufficient sandbox memory"
	// ErrReasonSandboxes starts the reason of an F3 rejection: the node
	// runs as many VMs as it advertises.
	ErrReasonSandboxes = "too many sandboxes"

	// footprintSignerName is the key of the sign fragment: the pod inputs
	// the footprint is computed from.
	footprintSignerName = "mtscn.io/v1.Pod.Spec.SandboxMemoryFootprint()"
)

// Name returns name of the plugin. It is used in logs, etc.
func (pl *SandboxOverhead) Name() string { return Name }

// New initializes a new plugin and returns it.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := getArgs(obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateSandboxOverheadArgs(field.NewPath("pluginConfig").Key(Name).Child("args"), args); err != nil {
		return nil, fmt.Errorf("invalid SandboxOverhead args: %w", err)
	}
	if err := classify.OneClassification(h, Name, args.SandboxClassification); err != nil {
		return nil, err
	}
	informers := h.SharedInformerFactory()
	if informers == nil {
		return nil, errors.New("SandboxOverhead needs the scheduler's shared informers to read RuntimeClasses")
	}
	rcInformer := informers.Node().V1().RuntimeClasses()
	pl := &SandboxOverhead{
		model:    vmsize.NewModel(args),
		views:    classify.NewViews(tenancy.ConfigFromClassification(args.SandboxClassification, nil, nil), nil, rcInformer.Lister()),
		strategy: args.ScoringStrategy,
		profile:  h.ProfileName(),
	}
	if err := pl.watchRuntimeClasses(ctx, h); err != nil {
		return nil, err
	}
	if err := pl.watchResizes(h); err != nil {
		return nil, err
	}
	pl.cache.CountLookups(Name)
	if err := pl.cache.ForgetDeletedNodes(h, metrics.ForgetNode(pl.profile)); err != nil {
		return nil, err
	}
	if err := classify.ActivateOnRuntimeClassAdd(ctx, h); err != nil {
		return nil, err
	}
	return pl, nil
}

func getArgs(obj runtime.Object) (*config.SandboxOverheadArgs, error) {
	args, ok := obj.(*config.SandboxOverheadArgs)
	if !ok {
		return nil, fmt.Errorf("want args to be of type SandboxOverheadArgs, got %T", obj)
	}
	return args, nil
}

// PreFilter sizes the pod once; it does no per-node work (Filter and Score
// read each node's cached summary). A pod that commits nothing (no VM, no
// requests) is skipped.
func (pl *SandboxOverhead) PreFilter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	logger := klog.FromContext(ctx)
	view := pl.views.Current()
	rt, err := view.Runtime(pod.Spec.RuntimeClassName)
	if err != nil {
		return nil, classify.Status(Name, pod, err)
	}
	s := &preFilterState{view: view, demand: pl.model.Demand(pod, rt)}
	s.profile, s.hasProfile = pl.model.ProfileFor(rt.Handler)
	s.footprint = pl.model.Footprint(s.demand, s.profile, s.hasProfile)
	if s.footprint.Committed == 0 && !(rt.Sandboxed && !rt.OffNode) {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	s.cycle = pl.cache.Begin(view.Version)
	cs.Write(preFilterStateKey, s)
	logger.V(5).Info("pod footprint", "pod", klog.KObj(pod), "handler", rt.Handler, "committed", s.footprint.Committed, "vm", s.footprint.VM)
	return nil, nil
}

// PreFilterExtensions returns the plugin itself: AddPod/RemovePod record
// nominated pods and preemption victims in the cycle state, so Filter on
// the framework's NodeInfo copies stays constant work.
func (pl *SandboxOverhead) PreFilterExtensions() fwk.PreFilterExtensions { return pl }

// AddPod records a pod added to a copy of its node (a nominated pod, or a
// preemption victim given back).
func (pl *SandboxOverhead) AddPod(ctx context.Context, cs fwk.CycleState, _ *v1.Pod, podInfoToAdd fwk.PodInfo, nodeInfo fwk.NodeInfo) *fwk.Status {
	return pl.updateWithPod(ctx, cs, podInfoToAdd.GetPod(), nodeInfo, 1)
}

// RemovePod records a pod removed from a copy of its node (a preemption
// victim).
func (pl *SandboxOverhead) RemovePod(ctx context.Context, cs fwk.CycleState, _ *v1.Pod, podInfoToRemove fwk.PodInfo, nodeInfo fwk.NodeInfo) *fwk.Status {
	return pl.updateWithPod(ctx, cs, podInfoToRemove.GetPod(), nodeInfo, -1)
}

func (pl *SandboxOverhead) updateWithPod(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo, sign int) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	if node == nil {
		return nil
	}
	logger := klog.FromContext(ctx)
	// nodeInfo already holds the change. When this state recorded the copy
	// just before it (one pod fewer or more), apply the pod's footprint to
	// that summary; otherwise (the copy's first change) summarize the copy.
	var sum *nodeSummary
	pods := len(nodeInfo.GetPods())
	if prev, ok := s.copies[node.Name]; ok && prev.pods+sign == pods {
		next := *prev.summary
		if !tenancy.IsTerminal(pod) {
			next.add(pl.podFootprint(logger, s.view, pod, next.capacity.Values, 0), int64(sign))
		}
		sum = &next
	} else {
		sum = pl.summarize(logger, s.view, nodeInfo)
	}
	if s.copies == nil {
		s.copies = map[string]copySummary{}
	}
	s.copies[node.Name] = copySummary{generation: nodeInfo.GetGeneration(), pods: pods, summary: sum}
	return nil
}

// Filter checks F1, F2 and F3 against the node's cached totals; it walks
// the node's pods only when the node changed since they were computed. Every failing check is reported. A pod that
// would not fit on the empty node is UnschedulableAndUnresolvable
// (preemption cannot help); otherwise Unschedulable.
func (pl *SandboxOverhead) Filter(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := getPreFilterState(cs)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := nodeInfo.Node()
	if node == nil {
		return fwk.NewStatus(fwk.Error, "node not found")
	}
	sum := pl.summaryOf(klog.FromContext(ctx), s, nodeInfo)
	used := sum.totals
	fp := s.footprintOn(pl.model, sum.capacity.Values)
	alloc := nodeInfo.GetAllocatable()
	var reasons []string
	unresolvable := false

	// Reasons name only the pod's own need, so that the scheduler groups
	// them across nodes and a pending pod's message stays short on any
	// cluster; what each node has left goes to the V(4) log.
	var nodeState []any
	if fp.Committed > 0 {
		allocatable := alloc.GetMemory()
		free := allocatable - used.committed
		if fp.Committed > free {
			what := "pod"
			if fp.VM {
				what = "VM"
			}
			reasons = append(reasons, fmt.Sprintf("%s: %s needs %s (%s)",
				ErrReasonMemory, what, vmsize.FormatBytes(fp.Committed, true), fp.Explain()))
			metrics.Rejected(Name, ErrReasonMemory)
			nodeState = append(nodeState, "allocatableMemory", allocatable, "committedMemory", used.committed)
			unresolvable = unresolvable || fp.Committed > allocatable
		}
	}
	if shm := sum.capacity.SharedMemory; sum.capacity.HasSharedMemory && fp.SharedMemory > 0 {
		left := shm - used.sharedMemory
		if fp.SharedMemory > left {
			reasons = append(reasons, fmt.Sprintf("%s: VM guest needs %s of /dev/shm (%s)",
				ErrReasonSandboxMemory, vmsize.FormatBytes(fp.SharedMemory, true), wellknown.ResourceSandboxMemory))
			metrics.Rejected(Name, ErrReasonSandboxMemory)
			nodeState = append(nodeState, "sandboxMemory", shm, "sandboxMemoryUsed", used.sharedMemory)
			unresolvable = unresolvable || fp.SharedMemory > shm
		}
	}
	if slots := sum.capacity.Slots; sum.capacity.HasSlots && fp.VM {
		if used.vms+1 > slots {
			reasons = append(reasons, fmt.Sprintf("%s: node runs as many VMs as its %s allow", ErrReasonSandboxes, wellknown.ResourceSandboxes))
			metrics.Rejected(Name, ErrReasonSandboxes)
			nodeState = append(nodeState, "sandboxes", slots, "vms", used.vms)
			unresolvable = unresolvable || slots < 1
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	if loggerV := logger.V(4); loggerV.Enabled() {
		loggerV.Info("node cannot hold the pod's footprint", append([]any{"pod", klog.KObj(pod), "node", klog.KObj(node),
			"needs", fp.Committed, "reasons", strings.Join(reasons, "; ")}, nodeState...)...)
	}
	code := fwk.Unschedulable
	if unresolvable {
		code = fwk.UnschedulableAndUnresolvable
	}
	return fwk.NewStatus(code, reasons...)
}

// SignPod signs the inputs of the pod's footprint: its RuntimeClass and its
// memory requests, limits, overhead and VFIO devices. Pods that agree on
// them get the same Filter and Score results on every node.
func (pl *SandboxOverhead) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	d := pl.model.Demand(pod, tenancy.Runtime{})
	return []fwk.SignFragment{{Key: footprintSignerName, Value: footprintSignature{
		RuntimeClassName: ptrValue(pod.Spec.RuntimeClassName),
		Requests:         d.Requests,
		Overhead:         d.Overhead,
		Limits:           d.Limits,
		AnyLimit:         d.AnyLimit,
		VFIO:             d.VFIO,
	}}}, nil
}

// footprintSignature is the JSON-marshalled value of the sign fragment.
type footprintSignature struct {
	RuntimeClassName string
	Requests         int64
	Overhead         int64
	Limits           int64
	AnyLimit         bool
	VFIO             bool
}

func ptrValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
