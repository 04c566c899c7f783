package tenantisolation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtscn/mtscn/pkg/schedulercmd"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// The events a randomized scenario mixes into its pod creations (issue 15
// item 12). Each either cannot make the placement already made illegal
// (namespace and node policies are only relaxed), or touches what pkg/audit
// does not judge (runtime handler labels), or is undone before the
// scenario settles (RuntimeClasses and handler labels are restored), so
// that any violation the audit finds is the scheduler's; and each can turn
// a pending pod schedulable, so that a pod left pending beside a legal
// node shows a missing requeue.
type stepKind int

const (
	stepCreate stepKind = iota
	// stepDelete deletes a bound pod, as its owner or an eviction would.
	stepDelete
	// stepDeleteNominated deletes a pending pod that preemption nominated
	// to a node: the pods it blocked must be retried.
	stepDeleteNominated
	// stepRelaxNamespace drops node-sharing=exclusive and sandbox=required
	// from a namespace.
	stepRelaxNamespace
	// stepRelaxNode drops cotenancy-safe=false from a node.
	stepRelaxNode
	// stepDropRuntime takes kata-clh off a node (SandboxFeatures then
	// refuses its pods there); stepRestoreRuntime puts it back.
	stepDropRuntime
	stepRestoreRuntime
	// stepDeleteRC deletes one of the scenario's RuntimeClasses (pods
	// bound with it stay; new ones cannot be created); stepRecreateRC
	// creates it again, as kata-deploy's reinstall does.
	stepDeleteRC
	stepRecreateRC
)

// scenarioRuntimeClasses are created per scenario, named <group>-<name>, so
// that scenarios running in parallel can delete theirs.
var scenarioRuntimeClasses = []struct {
	name, handler string
	overhead      v1.ResourceList
}{
	{rcKata, "kata-qemu", v1.ResourceList{v1.ResourceMemory: resource.MustParse("320Mi"), v1.ResourceCPU: resource.MustParse("250m")}},
	{rcCLH, "kata-clh", v1.ResourceList{v1.ResourceMemory: resource.MustParse("130Mi"), v1.ResourceCPU: resource.MustParse("250m")}},
	{rcRunc, "runc", nil},
}

// rc is the scenario's RuntimeClass of the given kind.
func (s scenario) rc(name string) string { return s.group + "-" + name }

func createRuntimeClasses(t *testing.T, cp *harness.ControlPlane, s scenario) {
	for _, rc := range scenarioRuntimeClasses {
		cp.CreateRuntimeClass(t, s.rc(rc.name), rc.handler, rc.overhead, nil)
	}
}

// eventGen draws the events between pod creations and remembers what must
// be restored at the end.
type eventGen struct {
	dropped    map[int]bool    // node index -> kata-clh label removed
	deletedRCs map[string]bool // RuntimeClass name -> deleted
}

func newEventGen() *eventGen {
	return &eventGen{dropped: map[int]bool{}, deletedRCs: map[string]bool{}}
}

// next returns zero or more events to run before the next pod creation.
func (g *eventGen) next(r *rand.Rand, s scenario) []step {
	var out []step
	switch r.IntN(12) {
	case 0, 1:
		out = append(out, step{kind: stepDelete, delete: r.IntN(100)})
	case 2, 3:
		out = append(out, step{kind: stepDeleteNominated, delete: r.IntN(100)})
	case 4:
		out = append(out, step{kind: stepRelaxNamespace, target: r.IntN(len(s.namespaces))})
	case 5:
		out = append(out, step{kind: stepRelaxNode, target: r.IntN(len(s.nodes))})
	case 6:
		n := r.IntN(len(s.nodes))
		if !g.dropped[n] {
			g.dropped[n] = true
			out = append(out, step{kind: stepDropRuntime, target: n})
		}
	case 7:
		rc := s.rc([]string{rcKata, rcCLH}[r.IntN(2)])
		if !g.deletedRCs[rc] {
			g.deletedRCs[rc] = true
			out = append(out, step{kind: stepDeleteRC, rc: rc})
		}
	}
	if r.IntN(3) == 0 {
		out = append(out, g.restoreOne(r, s)...)
	}
	return out
}

// restoreOne undoes one drop or deletion (in index order, so that a seed
// always yields the same scenario).
func (g *eventGen) restoreOne(r *rand.Rand, s scenario) []step {
	if r.IntN(2) == 0 {
		for n := range s.nodes {
			if g.dropped[n] {
				delete(g.dropped, n)
				return []step{{kind: stepRestoreRuntime, target: n}}
			}
		}
	}
	for _, rc := range scenarioRuntimeClasses {
		if name := s.rc(rc.name); g.deletedRCs[name] {
			delete(g.deletedRCs, name)
			return []step{{kind: stepRecreateRC, rc: name}}
		}
	}
	return nil
}

// restore undoes what is still dropped or deleted, in a fixed order.
func (g *eventGen) restore(s scenario) []step {
	var out []step
	for n := range s.nodes {
		if g.dropped[n] {
			out = append(out, step{kind: stepRestoreRuntime, target: n})
		}
	}
	for _, rc := range scenarioRuntimeClasses {
		if g.deletedRCs[s.rc(rc.name)] {
			out = append(out, step{kind: stepRecreateRC, rc: s.rc(rc.name)})
		}
	}
	return out
}

func (st step) describe(s scenario) string {
	switch st.kind {
	case stepCreate:
		return "create " + st.pod.Namespace + "/" + st.pod.Name
	case stepDelete:
		return fmt.Sprintf("delete bound pod #%d", st.delete)
	case stepDeleteNominated:
		return fmt.Sprintf("delete nominated pod #%d", st.delete)
	case stepRelaxNamespace:
		return "relax namespace " + s.namespaces[st.target].Name + " (drop exclusive, sandbox=required)"
	case stepRelaxNode:
		return "relax node " + s.nodes[st.target].Name + " (drop cotenancy-safe=false)"
	case stepDropRuntime:
		return "drop " + wellknown.RuntimeLabel("kata-clh") + " from node " + s.nodes[st.target].Name
	case stepRestoreRuntime:
		return "restore " + wellknown.RuntimeLabel("kata-clh") + " on node " + s.nodes[st.target].Name
	case stepDeleteRC:
		return "delete RuntimeClass " + st.rc
	case stepRecreateRC:
		return "re-create RuntimeClass " + st.rc
	}
	return fmt.Sprintf("step kind %d", st.kind)
}

// apply runs one step against the API server.
func apply(cp *harness.ControlPlane, s scenario, namespaces []string, st step) error {
	ctx := cp.Ctx
	c := cp.Client
	switch st.kind {
	case stepCreate:
		pod := st.pod.DeepCopy()
		if pod.Spec.SchedulerName == "" {
			pod.Spec.SchedulerName = schedulercmd.SchedulerName
		}
		if len(pod.Spec.Containers) == 0 {
			pod.Spec.Containers = []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}
		}
		_, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil && st.pod.Spec.RuntimeClassName != nil && isRuntimeClassGone(ctx, cp, *st.pod.Spec.RuntimeClassName) {
			// The RuntimeClass admission plugin refuses pods of a deleted
			// class, as it would in any cluster.
			return nil
		}
		return err
	case stepDelete, stepDeleteNominated:
		pods, err := scenarioPods(ctx, cp, namespaces)
		if err != nil {
			return err
		}
		var pick []*v1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			if (st.kind == stepDelete && p.Spec.NodeName != "") ||
				(st.kind == stepDeleteNominated && p.Spec.NodeName == "" && p.Status.NominatedNodeName != "") {
				pick = append(pick, p)
			}
		}
		if len(pick) == 0 {
			return nil
		}
		p := pick[st.delete%len(pick)]
		return forceDelete(ctx, cp, p.Namespace, p.Name)
	case stepRelaxNamespace:
		ns, err := c.CoreV1().Namespaces().Get(ctx, s.namespaces[st.target].Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		delete(ns.Labels, wellknown.LabelNodeSharing)
		delete(ns.Labels, wellknown.LabelSandboxPolicy)
		_, err = c.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		return err
	case stepRelaxNode, stepDropRuntime, stepRestoreRuntime:
		node, err := c.CoreV1().Nodes().Get(ctx, s.nodes[st.target].Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch st.kind {
		case stepRelaxNode:
			if node.Labels[wellknown.LabelCotenancySafe] != wellknown.ValueFalse {
				return nil
			}
			delete(node.Labels, wellknown.LabelCotenancySafe)
		case stepDropRuntime:
			delete(node.Labels, wellknown.RuntimeLabel("kata-clh"))
		case stepRestoreRuntime:
			node.Labels[wellknown.RuntimeLabel("kata-clh")] = wellknown.ValueTrue
		}
		_, err = c.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	case stepDeleteRC:
		return c.NodeV1().RuntimeClasses().Delete(ctx, st.rc, metav1.DeleteOptions{})
	case stepRecreateRC:
		for _, rc := range scenarioRuntimeClasses {
			if s.rc(rc.name) == st.rc {
				obj := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: st.rc}, Handler: rc.handler}
				if rc.overhead != nil {
					obj.Overhead = &nodev1.Overhead{PodFixed: rc.overhead}
				}
				_, err := c.NodeV1().RuntimeClasses().Create(ctx, obj, metav1.CreateOptions{})
				return err
			}
		}
		return fmt.Errorf("unknown RuntimeClass %s", st.rc)
	}
	return fmt.Errorf("unknown step kind %d", st.kind)
}

func isRuntimeClassGone(ctx context.Context, cp *harness.ControlPlane, name string) bool {
	_, err := cp.Client.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

func scenarioPods(ctx context.Context, cp *harness.ControlPlane, namespaces []string) ([]*v1.Pod, error) {
	var out []*v1.Pod
	for _, ns := range namespaces {
		pods, err := cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range pods.Items {
			out = append(out, &pods.Items[i])
		}
	}
	return out, nil
}
