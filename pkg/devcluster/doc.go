// Package devcluster runs a throwaway Kubernetes control plane inside the
// current process: an embedded etcd and the real kube-apiserver (the same
// code as the kube-apiserver binary, k8s.io/kubernetes v1.35.4) serving on
// loopback ports, plus, on request, mtscn-scheduler built from the shipped
// configuration and schedulercmd.Registry().
//
// Everything it writes (etcd data, a CA, serving and client certificates,
// the service-account key, a kubeconfig for kubectl) lives in one data
// directory, which Stop removes unless asked to keep it. There is no
// kubelet and no controller-manager: nodes are API objects and pods stay
// Pending once bound, which is all a scheduler needs.
package devcluster
