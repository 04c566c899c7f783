// Package simulate places a user's own objects (Nodes, Namespaces,
// RuntimeClasses, bound pods and new pods) with the real mtscn-scheduler on
// an embedded control plane (pkg/devcluster) and reports where each new pod
// went, why the others could not be placed, the memory committed per node
// and the audit of the result. It is the engine behind `mtscnctl simulate`
// and `mtscnctl demo`.
package simulate
