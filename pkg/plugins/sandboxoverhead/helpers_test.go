package sandboxoverhead

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func frameworkWithInformers(ctx context.Context, lister fwk.SharedLister) (fwk.Handle, error) {
	return frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithSnapshotSharedLister(lister),
		frameworkruntime.WithInformerFactory(informers.NewSharedInformerFactory(fake.NewClientset(), 0)))
}

// newOnInformers builds the plugin with the default args on a framework
// whose snapshot is snap and whose informers come from factory (over a fake
// clientset the test changes), with the extra options (a pod activator).
func newOnInformers(ctx context.Context, t testing.TB, snap fwk.SharedLister, factory informers.SharedInformerFactory, opts ...frameworkruntime.Option) *SandboxOverhead {
	t.Helper()
	fh, err := frameworkruntime.NewFramework(ctx, nil, nil,
		append([]frameworkruntime.Option{frameworkruntime.WithSnapshotSharedLister(snap), frameworkruntime.WithInformerFactory(factory)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(ctx, defaultArgs(t), fh)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*SandboxOverhead)
}

// runtimeClasses as kata-deploy ships them (overhead.podFixed), plus gVisor.
var runtimeClasses = []*nodev1.RuntimeClass{
	rc("kata-qemu", "kata-qemu", "320Mi"),
	rc("kata-qemu-runtime-rs", "kata-qemu-runtime-rs", "320Mi"),
	rc("kata-clh", "kata-clh", "130Mi"),
	rc("kata-remote", "kata-remote", "120Mi"),
	rc("gvisor", "runsc", ""),
}

func rc(name, handler, overhead string) *nodev1.RuntimeClass {
	r := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: handler}
	if overhead != "" {
		r.Overhead = &nodev1.Overhead{PodFixed: v1.ResourceList{v1.ResourceMemory: resource.MustParse(overhead)}}
	}
	return r
}

func mem(s string) map[v1.ResourceName]string {
	return map[v1.ResourceName]string{v1.ResourceMemory: s}
}

// podOn builds a pod the way the RuntimeClass admission controller leaves
// it: runtimeClassName set and the class's overhead copied into the spec.
func podOn(name, runtimeClass, limit, node string) *v1.Pod {
	w := st.MakePod().Name(name).Namespace("t1").UID(name).Node(node)
	if limit != "" {
		w = w.Res(mem(limit))
	}
	p := w.Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
		for _, r := range runtimeClasses {
			if r.Name == runtimeClass && r.Overhead != nil {
				p.Spec.Overhead = r.Overhead.PodFixed
			}
		}
	}
	return p
}

func pods(n int, runtimeClass, limit, node string) []*v1.Pod {
	var out []*v1.Pod
	for i := range n {
		out = append(out, podOn(fmt.Sprintf("%s-%s-%d", node, runtimeClass, i), runtimeClass, limit, node))
	}
	return out
}

func makeNode(name, memory string, extra map[v1.ResourceName]string, labels map[string]string) *v1.Node {
	c := map[v1.ResourceName]string{v1.ResourceMemory: memory, v1.ResourceCPU: "16", v1.ResourcePods: "110"}
	for k, v := range extra {
		c[k] = v
	}
	n := st.MakeNode().Name(name).Capacity(c).Obj()
	n.Labels = labels
	return n
}

func defaultArgs(t testing.TB) *config.SandboxOverheadArgs {
	t.Helper()
	args, err := vmsize.DefaultArgs()
	if err != nil {
		t.Fatal(err)
	}
	return args
}

func setup(ctx context.Context, t testing.TB, args *config.SandboxOverheadArgs, existing []*v1.Pod, nodes []*v1.Node) (*SandboxOverhead, *cache.Snapshot) {
	t.Helper()
	if args == nil {
		args = defaultArgs(t)
	}
	snap := cache.NewSnapshot(existing, nodes)
	var objs []apiruntime.Object
	for _, r := range runtimeClasses {
		objs = append(objs, r)
	}
	p := plugintesting.SetupPluginWithInformers(ctx, t, New, args, snap, objs)
	return p.(*SandboxOverhead), snap
}

func nodeInfos(t testing.TB, snap *cache.Snapshot) []fwk.NodeInfo {
	t.Helper()
	list, err := snap.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func nodeInfo(t testing.TB, snap *cache.Snapshot, name string) fwk.NodeInfo {
	t.Helper()
	ni, err := snap.NodeInfos().Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return ni
}

func ptrTo[T any](v T) *T { return &v }

// summaryIn returns the summary Filter and Score read for ni in the cycle
// state cs.
func summaryIn(t testing.TB, pl *SandboxOverhead, cs fwk.CycleState, ni fwk.NodeInfo) *nodeSummary {
	t.Helper()
	s, err := getPreFilterState(cs)
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	return pl.summaryOf(klog.FromContext(ctx), s, ni)
}
