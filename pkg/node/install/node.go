package install

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// NodeChange is one update of the node: labels to set, labels to remove,
// and taint keys to remove.
type NodeChange struct {
	Set          map[string]string
	Remove       []string
	RemoveTaints []string
}

// apply changes a node object in place and reports whether it changed.
func (c NodeChange) apply(n *v1.Node) bool {
	changed := false
	for k, v := range c.Set {
		if cur, ok := n.Labels[k]; !ok || cur != v {
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[k] = v
			changed = true
		}
	}
	for _, k := range c.Remove {
		if _, ok := n.Labels[k]; ok {
			delete(n.Labels, k)
			changed = true
		}
	}
	if len(c.RemoveTaints) > 0 {
		kept := n.Spec.Taints[:0:0]
		for _, t := range n.Spec.Taints {
			if slices.Contains(c.RemoveTaints, t.Key) {
				changed = true
				continue
			}
			kept = append(kept, t)
		}
		n.Spec.Taints = kept
	}
	return changed
}

// Node is how the installer changes its Node: the real implementation talks
// to the apiserver, tests may use MemoryNode.
type Node interface {
	// Apply makes the change and reports whether anything changed.
	Apply(ctx context.Context, c NodeChange) (bool, error)
	// Event records a Kubernetes Event on the Node (best effort).
	Event(ctx context.Context, eventType, reason, message string)
	// ReadLabels returns the Node's current labels, which discovery also
	// writes (mtscn.io/runtime.<handler>). ok is false when there is no
	// Node to read (no cluster): then there is no discovery to wait for.
	ReadLabels(ctx context.Context) (labels map[string]string, ok bool, err error)
}

// FieldManager is the installer's field manager on its Node: the Node's
// managedFields show which labels it wrote (never mtscn.io/runtime.*,
// which discovery writes).
const FieldManager = "mtscn-node-install"

// ReadLabels implements Node.
func (k *KubeNode) ReadLabels(ctx context.Context) (map[string]string, bool, error) {
	node, err := k.Client.CoreV1().Nodes().Get(ctx, k.Name, metav1.GetOptions{})
	if err != nil {
		return nil, true, fmt.Errorf("reading node %s: %w", k.Name, err)
	}
	return node.Labels, true, nil
}

// KubeNode is a Node in a Kubernetes cluster.
type KubeNode struct {
	Client kubernetes.Interface
	Name   string

	mu     sync.Mutex
	counts map[string]int32 // Event repeats seen by this process, by name
}

var _ Node = &KubeNode{}

// Apply implements Node with a Get and an Update (optimistic concurrency),
// retried on conflict; nothing is written when nothing changes.
func (k *KubeNode) Apply(ctx context.Context, c NodeChange) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := k.Client.CoreV1().Nodes().Get(ctx, k.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := node.DeepCopy()
		if changed = c.apply(n); !changed {
			return nil
		}
		_, err = k.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("updating node %s: %w", k.Name, err)
	}
	return changed, nil
}

// Event implements Node. The Event goes to the default namespace with the
// node's name as UID, as the kubelet's node events do, so that `kubectl
// describe node` shows it. There is one Event per node and reason: a
// repeated reason updates its count, message and time instead of adding an
// Event each retry.
func (k *KubeNode) Event(ctx context.Context, eventType, reason, message string) {
	now := metav1.NewTime(time.Now())
	events := k.Client.CoreV1().Events(metav1.NamespaceDefault)
	name := k.Name + "." + strings.ToLower(reason) + ".mtscn"
	k.mu.Lock()
	if k.counts == nil {
		k.counts = map[string]int32{}
	}
	k.counts[name]++
	count := k.counts[name]
	k.mu.Unlock()
	ev := &v1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		InvolvedObject: v1.ObjectReference{
			APIVersion: "v1", Kind: "Node", Name: k.Name, UID: types.UID(k.Name),
		},
		Reason:              reason,
		Message:             message,
		Type:                eventType,
		Source:              v1.EventSource{Component: "mtscn-node", Host: k.Name},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "mtscn.io/mtscn-node",
		ReportingInstance:   "mtscn-node-" + k.Name,
	}
	_, err := events.Create(ctx, ev, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// A repeat (a retry, or an earlier run of the agent): count it
		// on the one Event (RBAC: events create and patch).
		if count < 2 {
			count = 2
		}
		patch, _ := json.Marshal(map[string]any{"count": count, "message": message, "type": eventType, "lastTimestamp": now})
		_, err = events.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		klog.FromContext(ctx).Error(err, "recording event on node failed", "node", k.Name, "reason", reason)
	}
}

// MemoryNode is a Node held in memory, for running the installer without a
// cluster (host-only tests, a dry host install with --no-node).
type MemoryNode struct {
	mu     sync.Mutex
	Labels map[string]string
	Taints []v1.Taint
	Events []string // "Type Reason: message"
	// Updates counts the Apply calls that changed something.
	Updates int
	// Discovery, when set, plays the node's discovery agent (tests): it is
	// called with the labels, under the node's lock, each time the
	// installer reads them, and may change them. Without it the node has
	// no discovery and the installer does not wait for one.
	Discovery func(labels map[string]string)
}

var _ Node = &MemoryNode{}

// Apply implements Node.
func (m *MemoryNode) Apply(_ context.Context, c NodeChange) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(m.Labels)}, Spec: v1.NodeSpec{Taints: slices.Clone(m.Taints)}}
	if !c.apply(n) {
		return false, nil
	}
	m.Labels, m.Taints = n.Labels, n.Spec.Taints
	m.Updates++
	return true, nil
}

// ReadLabels implements Node.
func (m *MemoryNode) ReadLabels(context.Context) (map[string]string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Discovery == nil {
		return nil, false, nil
	}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Discovery(m.Labels)
	return maps.Clone(m.Labels), true, nil
}

// Event implements Node.
func (m *MemoryNode) Event(_ context.Context, eventType, reason, message string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Events = append(m.Events, eventType+" "+reason+": "+message)
}
