package kubeclient

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// UserAgent identifies the node agent to the apiserver.
const UserAgent = "mtscn-node"

// Config returns the REST config for kubeconfig ("" = in-cluster).
func Config(kubeconfig string) (*rest.Config, error) {
	var (
		rc  *rest.Config
		err error
	)
	if kubeconfig == "" {
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a cluster: %w", err)
		}
	} else if rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		return nil, fmt.Errorf("loading --kubeconfig %s: %w", kubeconfig, err)
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = UserAgent
	return rc, nil
}

// Clientset returns a Kubernetes clientset for kubeconfig ("" = in-cluster).
func Clientset(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := Config(kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return c, nil
}
