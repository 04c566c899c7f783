// Package wellknown is mtscn's vocabulary: every label key and value, taint
// key, extended resource name, annotation key and raw node-feature name that
// mtscn's components read or write, defined once.
//
// It plays the role of Kubernetes' well_known_labels.go and of Node Feature
// Discovery's feature API package: the scheduler plugins, pkg/tenancy,
// pkg/vmsize, the node agent (pkg/node/...), nfd-rules, audit, the demo and
// the tests import these constants instead of retyping strings, so a writer
// and its readers cannot drift apart.
//
// The package imports only the standard library, so any binary (the node
// agent above all) can use it without linking the scheduler.
//
// Files by kind:
//   - labels.go: Namespace, RuntimeClass and Node label keys and values.
//   - kata.go: the per-handler Kata configuration labels (mtscn.io/kata.*).
//   - taints.go: taint keys.
//   - resources.go: extended resource names.
//   - annotations.go: annotation keys.
//   - features.go: the raw NFD features in the "mtscn" domain that the node
//     agent publishes and nfd-rules/ turn into labels and resources.
package wellknown
