package wellknown

// Observed sandbox overhead: what the node agent (pkg/node/overhead)
// measured each running sandbox of a runtime handler to cost the host
// beyond its containers (pod cgroup minus container cgroups), published
// per node and read by pkg/vmsize, so SandboxOverhead can size a sandbox
// with the observed figure instead of the static model.
//
//	mtscn.io/overhead.<handler>.observed-memory   p95 over the agent's window, a quantity rounded up to Mi ("97Mi")
//	mtscn.io/overhead.<handler>.observed-samples  how many samples the window holds ("42")
const (
	// LabelOverheadPrefix starts every per-handler observed-overhead label.
	LabelOverheadPrefix = LabelPrefix + "overhead."
	// LabelSuffixObservedMemory ends the observed p95 label.
	LabelSuffixObservedMemory = ".observed-memory"
	// LabelSuffixObservedSamples ends the sample-count label.
	LabelSuffixObservedSamples = ".observed-samples"
)

// ObservedMemoryLabel returns the label key of handler's observed p95 overhead.
func ObservedMemoryLabel(handler string) string {
	return LabelOverheadPrefix + handler + LabelSuffixObservedMemory
}

// ObservedSamplesLabel returns the label key of handler's sample count.
func ObservedSamplesLabel(handler string) string {
	return LabelOverheadPrefix + handler + LabelSuffixObservedSamples
}

// FeatureSandboxOverhead has one instance per runtime handler the agent
// measured, with attributes OverheadHandler, OverheadP50Bytes,
// OverheadP95Bytes, OverheadMaxBytes and OverheadSamples (decimal).
const FeatureSandboxOverhead = FeatureDomain + ".sandbox_overhead"

// Attributes of each FeatureSandboxOverhead instance.
const (
	OverheadHandler  = "handler"
	OverheadP50Bytes = "p50_bytes"
	OverheadP95Bytes = "p95_bytes"
	OverheadMaxBytes = "max_bytes"
	OverheadSamples  = "samples"
)
