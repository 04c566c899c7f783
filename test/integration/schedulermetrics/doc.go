// Package schedulermetrics scrapes the decision metrics of mtscn's plugins
// (pkg/plugins/internal/metrics) from the real mtscn-scheduler binary's
// /metrics endpoint, with the shipped configuration, against a real
// kube-apiserver and etcd (pkg/devcluster, in this process).
package schedulermetrics
