// Package wiring holds the integration tests of mtscn-scheduler's assembly:
// the shipped configuration decodes, the mtscn profile runs the three
// plugins at their extension points, and a pod that names mtscn-scheduler
// is bound by it through the real kube-apiserver.
package wiring
