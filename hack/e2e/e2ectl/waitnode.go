package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// runWaitNode waits until the Node is Ready and prints its version and
// taints.
func runWaitNode(ctx context.Context, fs *flag.FlagSet, args []string) error {
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	node := fs.String("node", "", "node name (required)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, client, err := clientFor(*kubeconfig)
	if err != nil {
		return err
	}
	var last *v1.Node
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, *timeout, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, *node, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = n
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		if last == nil {
			return fmt.Errorf("node %s did not register within %s (see the kubelet's log)", *node, *timeout)
		}
		return fmt.Errorf("node %s not Ready within %s; conditions: %v", *node, *timeout, last.Status.Conditions)
	}
	var taints []string
	for _, t := range last.Spec.Taints {
		taints = append(taints, t.ToString())
	}
	fmt.Printf("node %s Ready: kubelet %s, %s, taints %v\n", *node, last.Status.NodeInfo.KubeletVersion, last.Status.NodeInfo.ContainerRuntimeVersion, taints)
	return nil
}
