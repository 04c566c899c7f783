// Package classify holds what mtscn's three scheduler plugins share about
// classifying pods (docs/design.md, "Vocabulary" and "The plugins"): the
// status of a pod whose Namespace or RuntimeClass is missing, the
// RuntimeClass event that requeues it, the conversion of the unstructured
// objects the scheduler's dynamic informers deliver, the classification
// Views a scheduling cycle classifies every pod through (views.go), and
// the check that the plugins of one profile share one classification
// (OneClassification). The rules themselves are pkg/tenancy's.
//
// A missing Namespace or RuntimeClass is UnschedulableAndUnresolvable in
// every plugin (preemption cannot create it), SignPod refuses such a pod,
// the other QueueingHints skip it, and the creation of the RuntimeClass
// requeues it.
package classify
