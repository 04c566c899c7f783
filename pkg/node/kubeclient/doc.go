// Package kubeclient is the one way mtscn-node builds its Kubernetes
// client configuration: in-cluster when no kubeconfig is given (the
// DaemonSets), from the kubeconfig file otherwise (a person on the node,
// make e2e).
package kubeclient
