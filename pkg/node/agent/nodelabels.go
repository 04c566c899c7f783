package agent

import (
	"context"
	"fmt"
	"maps"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/pkg/node/discover"
)

// publishNodeLabels does on the agent's own Node what nfd-master does with
// the agent's NodeFeature and nfd-rules/ (run through NFD's rule engine):
// it sets the rules' labels and the Kata sizing labels, and the rules'
// extended resources (mtscn.io/sandbox-memory, mtscn.io/sandboxes) in the
// Node's status capacity, and removes the agent's labels and resources that
// no longer apply. Labels and resources the agent does not own
// (discover.IsOwnedLabel, discover.IsOwnedResource) are never touched. Both
// merge patches carry the Node's resourceVersion, so a concurrent change
// makes one fail with a conflict and the round is retried.
func (a *Agent) publishNodeLabels(ctx context.Context, res *discover.Result) (string, error) {
	logger := klog.FromContext(ctx)
	out, err := nfdrules.Evaluate(a.rules, res.Features())
	if err != nil {
		logger.Info("nfd-rules dropped some outputs", "err", err)
	}
	want := map[string]string{}
	for k, v := range out.Labels {
		if discover.IsOwnedLabel(k) {
			want[k] = v
		} else {
			logger.V(2).Info("not setting a rule label the agent does not own", "label", k)
		}
	}
	maps.Copy(want, discover.KataLabels(res))
	maps.Copy(want, a.overheadLabels())
	wantResources := map[string]string{}
	for k, v := range out.ExtendedResources {
		if discover.IsOwnedResource(k) {
			wantResources[k] = v
		} else {
			logger.V(2).Info("not setting a rule extended resource the agent does not own", "resource", k)
		}
	}

	result := resultUnchanged
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		nodes := a.kubeClient.CoreV1().Nodes()
		node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting node %s: %w", a.cfg.NodeName, err)
		}
		if patch := labelPatch(node, want); len(patch) > 0 {
			body, err := json.Marshal(map[string]any{
				"metadata": map[string]any{"labels": patch, "resourceVersion": node.ResourceVersion},
			})
			if err != nil {
				return fmt.Errorf("encoding label patch: %w", err)
			}
			if node, err = nodes.Patch(ctx, node.Name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("patching labels: %w", err)
			}
			logger.Info("patched node labels", "node", klog.KObj(node), "changes", patch)
			result = resultUpdated
		}
		patch, err := capacityPatch(node, wantResources)
		if err != nil || len(patch) == 0 {
			return err
		}
		body, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
			"status":   map[string]any{"capacity": patch, "allocatable": patch},
		})
		if err != nil {
			return fmt.Errorf("encoding capacity patch: %w", err)
		}
		if _, err := nodes.Patch(ctx, node.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("patching status capacity: %w", err)
		}
		logger.Info("patched node capacity", "node", klog.KObj(node), "changes", patch)
		result = resultUpdated
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("publishing on node %s: %w", a.cfg.NodeName, err)
	}
	return result, nil
}

// labelPatch returns the merge-patch label map turning node's owned labels
// into want: changed or new keys with their value, stale owned keys as nil.
func labelPatch(node *v1.Node, want map[string]string) map[string]any {
	patch := map[string]any{}
	for k, v := range want {
		if cur, ok := node.Labels[k]; !ok || cur != v {
			patch[k] = v
		}
	}
	for k := range node.Labels {
		if _, keep := want[k]; !keep && discover.IsOwnedLabel(k) {
			patch[k] = nil
		}
	}
	return patch
}

// capacityPatch returns the merge-patch resource map, applied to both
// status.capacity and status.allocatable, turning node's owned extended
// resources into want: a new or changed quantity with the rule's value (as
// nfd-master writes it), an owned resource the rules no longer produce as
// nil. nfd-master sets only the capacity of a new resource and leaves
// allocatable to the kubelet's next status update; the agent sets both, so
// the scheduler sees the resource at once (the kubelet's allocatable for an
// extended resource equals its capacity). Values nfd-master would compare
// as integers are compared as quantities.
func capacityPatch(node *v1.Node, want map[string]string) (map[string]any, error) {
	patch := map[string]any{}
	for k, v := range want {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("extended resource %s from nfd-rules: %w", k, err)
		}
		c, inCapacity := node.Status.Capacity[v1.ResourceName(k)]
		al, inAllocatable := node.Status.Allocatable[v1.ResourceName(k)]
		if !inCapacity || !inAllocatable || c.Cmp(q) != 0 || al.Cmp(q) != 0 {
			patch[k] = v
		}
	}
	for _, list := range []v1.ResourceList{node.Status.Capacity, node.Status.Allocatable} {
		for name := range list {
			if _, keep := want[string(name)]; !keep && discover.IsOwnedResource(string(name)) {
				patch[string(name)] = nil
			}
		}
	}
	return patch, nil
}
