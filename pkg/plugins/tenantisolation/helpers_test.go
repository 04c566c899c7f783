package tenantisolation

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	plugintesting "k8s.io/kubernetes/pkg/scheduler/framework/plugins/testing"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/apis/config/scheme"
	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// defaultArgs returns the args the shipped configuration decodes to.
func defaultArgs(t testing.TB) *config.TenantIsolationArgs {
	t.Helper()
	var v1args configv1.TenantIsolationArgs
	scheme.Scheme.Default(&v1args)
	var args config.TenantIsolationArgs
	if err := scheme.Scheme.Convert(&v1args, &args, nil); err != nil {
		t.Fatalf("converting default args: %v", err)
	}
	return &args
}

func ns(name string, labels map[string]string) *v1.Namespace {
	return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func rc(name, handler string, labels map[string]string) *nodev1.RuntimeClass {
	return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Handler: handler}
}

// The test cluster's Namespaces and RuntimeClasses.
func fixtures() []runtime.Object {
	return []runtime.Object{
		ns("a1", map[string]string{wellknown.LabelTenant: "A"}),
		ns("a2", map[string]string{wellknown.LabelTenant: "A"}),
		ns("b", map[string]string{"capsule.clastix.io/tenant": "B"}),
		ns("b2", map[string]string{"projectcapsule.dev/tenant": "B"}),
		ns("c", nil),
		ns("ex", map[string]string{wellknown.LabelTenant: "X", wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive}),
		ns("req", map[string]string{wellknown.LabelTenant: "R", wellknown.LabelSandboxPolicy: wellknown.SandboxRequired}),
		ns("kube-system", nil),
		ns("monitoring", map[string]string{wellknown.LabelInfrastructure: "true"}),
		rc("kata", "kata-qemu", nil),
		rc("runc", "runc", nil),
		rc("custom-vm", "custom", map[string]string{wellknown.LabelSandboxed: "true"}),
		rc("kata-not", "kata-debug", map[string]string{wellknown.LabelSandboxed: "false"}),
		rc("remote", "kata-remote", nil),
	}
}

// pod returns a pod of namespace/name with the runtime class ("" for the
// default runtime), bound to node when node != "".
func pod(namespace, name, runtimeClass, node string) *v1.Pod {
	p := st.MakePod().Namespace(namespace).Name(name).UID(namespace + "/" + name).Node(node).Obj()
	if runtimeClass != "" {
		p.Spec.RuntimeClassName = &runtimeClass
	}
	return p
}

func withLabel(p *v1.Pod, k, v string) *v1.Pod {
	p.Labels = map[string]string{k: v}
	return p
}

func setup(ctx context.Context, t testing.TB, args *config.TenantIsolationArgs, pods []*v1.Pod, nodes []*v1.Node) (*TenantIsolation, []fwk.NodeInfo) {
	t.Helper()
	snapshot := cache.NewSnapshot(pods, nodes)
	p := plugintesting.SetupPluginWithInformers(ctx, t, New, args, snapshot, fixtures())
	infos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	return p.(*TenantIsolation), infos
}

// safeNode returns a node the node agent found safe for co-tenancy
// (mtscn.io/cotenancy-safe=true): without that label I4 keeps tenants apart.
func safeNode(name string) *v1.Node {
	return st.MakeNode().Name(name).Label(wellknown.LabelCotenancySafe, wellknown.ValueTrue).Obj()
}

func nodeInfo(t *testing.T, infos []fwk.NodeInfo, name string) fwk.NodeInfo {
	t.Helper()
	for _, ni := range infos {
		if ni.Node().Name == name {
			return ni
		}
	}
	t.Fatalf("node %q not in snapshot", name)
	return nil
}
