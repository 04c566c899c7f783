package metrics

import (
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
)

const (
	namespace = "mtscn"
	subsystem = "scheduler"
)

// Cache lookup results, the result label of NodeCacheLookups.
const (
	ResultHit  = "hit"
	ResultMiss = "miss"
)

var (
	// Rejections counts the rejections of each plugin by reason.
	Rejections = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      namespace,
		Subsystem:      subsystem,
		Name:           "rejections_total",
		Help:           "Rejections by mtscn's plugins, by plugin and constant reason (the rule: docs/design.md), counted per pod in PreFilter and per node in Filter.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"plugin", "reason"})

	// Requeues counts the queueing hints that returned fwk.Queue.
	Requeues = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      namespace,
		Subsystem:      subsystem,
		Name:           "requeues_total",
		Help:           "Queueing hints of mtscn's plugins that requeued a pod they had rejected (fwk.Queue), by plugin and cluster event.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"plugin", "event"})

	// NodeCacheLookups counts the hits and misses of the per-node summary
	// caches.
	NodeCacheLookups = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      namespace,
		Subsystem:      subsystem,
		Name:           "node_cache_lookups_total",
		Help:           "Lookups of mtscn's per-node summary caches, by plugin and result (hit, miss: the node changed and its pods were summarized again).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"plugin", "result"})

	// NodeCommittedMemory is the memory SandboxOverhead counts as committed
	// on each node, by scheduler profile: two profiles of one scheduler
	// may size the same node differently (their args differ), and a gauge
	// without the profile would show whichever summarized it last. The
	// label is named as in kube-scheduler's own metrics
	// (scheduler_schedule_attempts_total{profile,result},
	// k8s.io/kubernetes/pkg/scheduler/metrics).
	NodeCommittedMemory = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace:      namespace,
		Subsystem:      subsystem,
		Name:           "node_committed_memory_bytes",
		Help:           "Memory the pods on each node commit as SandboxOverhead counts it (VM footprints included; docs/vm-footprint.md), by scheduler profile and node, updated when the profile's SandboxOverhead summarizes the node.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"profile", "node"})

	registerOnce sync.Once
)

// Register registers the metrics with the legacy registry, which
// kube-scheduler serves on /metrics. It is safe to call more than once.
func Register() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(Rejections, Requeues, NodeCacheLookups, NodeCommittedMemory)
	})
}

// Rejected counts one rejection by plugin for reason, one of the plugin's
// constant reasons (never a message with numbers or names in it); a
// reason that prefixes a list ("node lacks: ") is counted without its ": ".
// Filter calls it for every node it rejects, so the labelled counters are
// kept once resolved (a map load instead of hashing the label values).
func Rejected(plugin, reason string) {
	key := rejectionKey{plugin, reason}
	if c, ok := rejectionCounters.Load(key); ok {
		c.(metrics.CounterMetric).Inc()
		return
	}
	c := Rejections.WithLabelValues(plugin, strings.TrimSuffix(reason, ": "))
	if Rejections.IsCreated() {
		// Before Register the counter is a no-op: do not keep it.
		rejectionCounters.Store(key, c)
	}
	c.Inc()
}

type rejectionKey struct{ plugin, reason string }

// rejectionCounters holds the resolved Rejections counters by
// rejectionKey.
var rejectionCounters sync.Map

// CountRequeues wraps the queueing hint of every event so that each
// fwk.Queue it returns is counted under the plugin and the event that
// happened: the registered resource and Add, Update or Delete (e.g.
// "PodDelete", "NodeUpdate"), told apart by which of the old and new
// objects the hint got. Events without a hint are returned as they are.
//
// A pod rejected by several plugins is moved by the first hint that
// answers Queue: the queue does not ask the others, so the requeue is
// counted under that plugin only.
func CountRequeues(plugin string, events []fwk.ClusterEventWithHint) []fwk.ClusterEventWithHint {
	out := make([]fwk.ClusterEventWithHint, len(events))
	for i, e := range events {
		out[i] = e
		if e.QueueingHintFn == nil {
			continue
		}
		hint, resource := e.QueueingHintFn, string(e.Event.Resource)
		out[i].QueueingHintFn = func(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
			h, err := hint(logger, pod, oldObj, newObj)
			if h == fwk.Queue {
				Requeues.WithLabelValues(plugin, resource+action(oldObj, newObj)).Inc()
			}
			return h, err
		}
	}
	return out
}

// action names the kind of change a hint was called for.
func action(oldObj, newObj interface{}) string {
	switch {
	case oldObj == nil:
		return "Add"
	case newObj == nil:
		return "Delete"
	}
	return "Update"
}

// CacheCounters are one plugin's cache hit and miss counters, resolved
// once so that a lookup costs one atomic add.
type CacheCounters struct {
	hit, miss metrics.CounterMetric
}

// NewCacheCounters returns plugin's cache counters. Call Register first.
func NewCacheCounters(plugin string) *CacheCounters {
	return &CacheCounters{
		hit:  NodeCacheLookups.WithLabelValues(plugin, ResultHit),
		miss: NodeCacheLookups.WithLabelValues(plugin, ResultMiss),
	}
}

// Lookup counts one lookup, a hit or a miss. A nil receiver counts nothing.
func (c *CacheCounters) Lookup(hit bool) {
	switch {
	case c == nil:
	case hit:
		c.hit.Inc()
	default:
		c.miss.Inc()
	}
}

// SetCommittedMemory records what the SandboxOverhead of the scheduler
// profile counts as committed on the node.
func SetCommittedMemory(profile, node string, bytes int64) {
	NodeCommittedMemory.WithLabelValues(profile, node).Set(float64(bytes))
}

// ForgetNode returns what removes the profile's series of a deleted node
// (for nodecache.Cache.ForgetDeletedNodes).
func ForgetNode(profile string) func(node string) {
	return func(node string) { NodeCommittedMemory.DeleteLabelValues(profile, node) }
}
