package agent

import (
	"context"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/node/hostpath"
	"github.com/mtscn/mtscn/pkg/node/overhead"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// overheadMetrics are the observed sandbox overhead per handler.
type overheadMetrics struct {
	bytes   *prometheus.GaugeVec
	samples *prometheus.GaugeVec
}

func newOverheadMetrics(reg *prometheus.Registry) overheadMetrics {
	m := overheadMetrics{
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Subsystem: metricsSubsystem,
			Name:      "sandbox_overhead_bytes",
			Help:      "Host memory a sandbox of the runtime handler costs beyond its containers (pod cgroup minus container cgroups, plus the shims and VMM outside the pod cgroup), by statistic over the agent's window: p50, p95, max.",
		}, []string{"handler", "stat"}),
		samples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Subsystem: metricsSubsystem,
			Name:      "sandbox_overhead_samples",
			Help:      "Samples in the agent's window of observed sandbox overhead, by runtime handler.",
		}, []string{"handler"}),
	}
	reg.MustRegister(m.bytes, m.samples)
	return m
}

// sampleOverhead measures every running sandboxed pod on the node and
// records it in the agent's windows. It needs the Kubernetes client (pods
// of the node, RuntimeClasses); without one it does nothing. Failures are
// logged: observed overhead is an optimisation and never stops publishing.
func (a *Agent) sampleOverhead(ctx context.Context, res *discover.Result) {
	if a.kubeClient == nil || res == nil || res.Kata == nil {
		return
	}
	logger := klog.FromContext(ctx)
	sandboxed := map[string]bool{}
	for _, h := range res.Kata.Handlers {
		if h.Sandbox != "" {
			sandboxed[h.Name] = true
		}
	}
	if len(sandboxed) == 0 {
		return
	}
	targets, err := a.overheadTargets(ctx, sandboxed)
	if err != nil {
		logger.Error(err, "listing sandboxed pods for the observed overhead")
		return
	}
	root := hostpath.Root(a.cfg.HostRoot)
	s := overhead.Sampler{Cgroups: overhead.Cgroups{Root: root}, Procs: &overhead.Procs{Root: root}, Windows: a.windows}
	ms, err := s.Sample(targets)
	if err != nil {
		logger.Error(err, "measuring sandbox overhead")
	}
	for _, m := range ms {
		var outside []string
		for _, p := range m.Outside {
			outside = append(outside, fmt.Sprintf("%s[%d]=%d", p.Name, p.PID, p.Bytes))
		}
		logger.V(4).Info("sandbox overhead", "pod", klog.KRef(m.Namespace, m.Name), "handler", m.Handler,
			"podBytes", m.Pod, "containerBytes", m.Containers, "outside", outside, "overheadBytes", m.Total())
	}
	stats := a.windows.Stats()
	if pub, changed := a.publication.Update(stats); len(changed) > 0 {
		for _, h := range changed {
			logger.V(2).Info("observed sandbox overhead to publish", "handler", h, "p95Bytes", pub[h].P95, "samples", pub[h].Count)
		}
	}
	for h, st := range stats {
		a.overheadMetrics.bytes.WithLabelValues(h, "p50").Set(float64(st.P50))
		a.overheadMetrics.bytes.WithLabelValues(h, "p95").Set(float64(st.P95))
		a.overheadMetrics.bytes.WithLabelValues(h, "max").Set(float64(st.Max))
		a.overheadMetrics.samples.WithLabelValues(h).Set(float64(st.Count))
	}
}

// overheadTargets lists the node's pods and the RuntimeClasses.
func (a *Agent) overheadTargets(ctx context.Context, sandboxed map[string]bool) ([]overhead.Target, error) {
	rcs, err := a.kubeClient.NodeV1().RuntimeClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing RuntimeClasses: %w", err)
	}
	handlers := map[string]string{}
	for _, rc := range rcs.Items {
		handlers[rc.Name] = rc.Handler
	}
	pods, err := a.kubeClient.CoreV1().Pods(v1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of node %s: %w", a.cfg.NodeName, err)
	}
	return overhead.Targets(pods.Items, handlers, sandboxed), nil
}

// addOverheadFeature adds FeatureSandboxOverhead to f (one instance per
// handler with samples), as last published (overhead.Publication: the
// figures change only when it matters, so that the NodeFeature is not
// rewritten every round).
func (a *Agent) addOverheadFeature(f *nfdv1alpha1.Features) {
	var inst []nfdv1alpha1.InstanceFeature
	for h, st := range a.publication.Published() {
		inst = append(inst, *nfdv1alpha1.NewInstanceFeature(map[string]string{
			wellknown.OverheadHandler:  h,
			wellknown.OverheadP50Bytes: strconv.FormatInt(st.P50, 10),
			wellknown.OverheadP95Bytes: strconv.FormatInt(st.P95, 10),
			wellknown.OverheadMaxBytes: strconv.FormatInt(st.Max, 10),
			wellknown.OverheadSamples:  strconv.Itoa(st.Count),
		}))
	}
	if len(inst) > 0 {
		f.Instances[wellknown.FeatureSandboxOverhead] = nfdv1alpha1.NewInstanceFeatures(inst...)
	}
}

// overheadLabels are the per-handler observed-overhead labels pkg/vmsize
// reads: the published p95 rounded up to MiB and the published sample
// count (a step of the 1-2-5 series, see overhead.Publication).
func (a *Agent) overheadLabels() map[string]string {
	out := map[string]string{}
	for h, st := range a.publication.Published() {
		mem, n := wellknown.ObservedMemoryLabel(h), wellknown.ObservedSamplesLabel(h)
		if len(validation.IsQualifiedName(mem)) > 0 || len(validation.IsQualifiedName(n)) > 0 {
			continue
		}
		out[mem] = strconv.FormatInt((st.P95+(1<<20)-1)>>20, 10) + "Mi"
		out[n] = strconv.Itoa(st.Count)
	}
	return out
}
