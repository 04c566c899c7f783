package audit

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ReadSnapshot lists the objects audit checks from a cluster: nodes, pods,
// namespaces and runtime classes. It only reads (list on those four
// resources).
func ReadSnapshot(ctx context.Context, client kubernetes.Interface) (*Snapshot, error) {
	snap := &Snapshot{}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		snap.Nodes = append(snap.Nodes, &nodes.Items[i])
	}
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	for i := range pods.Items {
		snap.Pods = append(snap.Pods, &pods.Items[i])
	}
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	for i := range nss.Items {
		snap.Namespaces = append(snap.Namespaces, &nss.Items[i])
	}
	rcs, err := client.NodeV1().RuntimeClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing runtime classes: %w", err)
	}
	for i := range rcs.Items {
		snap.RuntimeClasses = append(snap.RuntimeClasses, &rcs.Items[i])
	}
	return snap, nil
}
