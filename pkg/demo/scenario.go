package demo

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/simulate"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Node names, for tests that assert on placements.
const (
	NodeMetalQAT   = "metal-qat-1"
	NodeMetalSNP   = "metal-snp-1"
	NodeVMNested   = "vm-nested-1"
	NodeVMPVM      = "vm-pvm-1"
	NodeVMNoKVM    = "vm-nokvm-1"
	NodeMetalLeaky = "metal-leaky-1"
)

// nodeSpec is one simulated node.
type nodeSpec struct {
	name, kind     string
	cpu, memory    string
	labels         map[string]string
	sandboxMemory  string // mtscn.io/sandbox-memory ("" when not advertised)
	sandboxes      int64  // mtscn.io/sandboxes (0 when not advertised)
	extraResources v1.ResourceList
}

// kataNode returns the labels of a node whose agent found /dev/kvm and
// kata-deploy installed the handlers.
func kataNode(virtMode string, handlers ...string) map[string]string {
	l := map[string]string{
		wellknown.LabelKataRuntime: "true",
		wellknown.LabelKVM:         "true",
		wellknown.LabelVirtMode:    virtMode,
		// The agent found no cross-VM leak (I4 fails closed without it).
		wellknown.LabelCotenancySafe: "true",
		"kubernetes.io/os":           "linux",
		"kubernetes.io/arch":         "amd64",
		"node.kubernetes.io/pool":    "shared",
	}
	for _, h := range handlers {
		l[wellknown.LabelRuntimePrefix+h] = "true"
	}
	return l
}

func with(l map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

var nodeSpecs = []nodeSpec{
	{
		name: NodeMetalQAT, kind: "bare metal, VT-x, IOMMU, QAT VFs on vfio-pci",
		cpu: "32", memory: "32Gi", sandboxMemory: "16Gi", sandboxes: 40,
		labels:         with(kataNode(wellknown.VirtModeHardware, "kata-qemu", "kata-clh", "kata-qemu-runtime-rs"), wellknown.LabelIOMMU, "true", wellknown.LabelQATVFIO, "true"),
		extraResources: v1.ResourceList{wellknown.ResourceQATGeneric: resource.MustParse("4")},
	},
	{
		name: NodeMetalSNP, kind: "bare metal, AMD SEV-SNP",
		cpu: "32", memory: "24Gi", sandboxMemory: "12Gi", sandboxes: 40,
		labels: with(kataNode(wellknown.VirtModeHardware, "kata-qemu", "kata-qemu-snp"), wellknown.LabelSNP, "true", wellknown.LabelIOMMU, "true"),
	},
	{
		name: NodeVMNested, kind: "cloud VM, nested virtualization",
		cpu: "8", memory: "12Gi", sandboxMemory: "6Gi", sandboxes: 20,
		labels: kataNode(wellknown.VirtModeNested, "kata-qemu", "kata-clh"),
	},
	{
		name: NodeVMPVM, kind: "cloud VM, KVM through PVM",
		cpu: "8", memory: "12Gi", sandboxMemory: "6Gi", sandboxes: 20,
		labels: kataNode(wellknown.VirtModePVM, "kata-qemu", "kata-clh"),
	},
	{
		// kata-deploy ran (the RuntimeClass nodeSelector matches) but there
		// is no /dev/kvm: the agent does not label mtscn.io/kvm.
		name: NodeVMNoKVM, kind: "cloud VM, no KVM",
		cpu: "8", memory: "12Gi",
		labels: map[string]string{wellknown.LabelKataRuntime: "true", wellknown.LabelRuntimePrefix + "kata-qemu": "true", wellknown.LabelCotenancySafe: "true",
			"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
	},
	{
		name: NodeMetalLeaky, kind: "bare metal, SMT on, L1TF/MDS vulnerable",
		cpu: "32", memory: "24Gi", sandboxMemory: "12Gi", sandboxes: 40,
		labels: with(kataNode(wellknown.VirtModeHardware, "kata-qemu", "kata-clh"), wellknown.LabelCotenancySafe, "false"),
	},
}

func (s nodeSpec) node() *v1.Node {
	capacity := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(s.cpu),
		v1.ResourceMemory: resource.MustParse(s.memory),
		v1.ResourcePods:   resource.MustParse("110"),
	}
	if s.sandboxMemory != "" {
		capacity[wellknown.ResourceSandboxMemory] = resource.MustParse(s.sandboxMemory)
	}
	if s.sandboxes > 0 {
		capacity[wellknown.ResourceSandboxes] = *resource.NewQuantity(s.sandboxes, resource.DecimalSI)
	}
	for k, v := range s.extraResources {
		capacity[k] = v
	}
	labels := map[string]string{"kubernetes.io/hostname": s.name}
	for k, v := range s.labels {
		labels[k] = v
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: labels, Annotations: map[string]string{wellknown.AnnotationDemoNodeKind: s.kind}},
		Status:     v1.NodeStatus{Capacity: capacity, Allocatable: capacity.DeepCopy()},
	}
}

// runtimeClass is a RuntimeClass as the kata-deploy chart renders it:
// overhead.podFixed per docs/sources.md and a nodeSelector on the
// kata-runtime=true label.
func runtimeClass(handler, memory, cpu string) *nodev1.RuntimeClass {
	return &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: handler, Labels: map[string]string{"app.kubernetes.io/managed-by": "kata-deploy"}},
		Handler:    handler,
		Overhead: &nodev1.Overhead{PodFixed: v1.ResourceList{
			v1.ResourceMemory: resource.MustParse(memory),
			v1.ResourceCPU:    resource.MustParse(cpu),
		}},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{wellknown.LabelKataRuntime: "true"}},
	}
}

func namespace(name string, labels ...string) *v1.Namespace {
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	return ns
}

// podSpec is a compact pod description.
type podSpec struct {
	ns, name, runtimeClass string
	request, limit         string // memory
	cpu                    string
	extra                  v1.ResourceList
}

func (p podSpec) pod() *v1.Pod {
	res := v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse(p.request), v1.ResourceCPU: resource.MustParse(p.cpu)},
	}
	if p.limit != "" {
		res.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse(p.limit)}
	}
	for k, v := range p.extra {
		res.Requests[k] = v
		if res.Limits == nil {
			res.Limits = v1.ResourceList{}
		}
		res.Limits[k] = v
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name, Labels: map[string]string{"app": p.name}},
		Spec: v1.PodSpec{
			Containers: []v1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", Resources: res}},
		},
	}
	if p.runtimeClass != "" {
		pod.Spec.RuntimeClassName = ptr.To(p.runtimeClass)
	}
	return pod
}

func replicas(n int, p podSpec) []podSpec {
	out := make([]podSpec, n)
	for i := range out {
		out[i] = p
		out[i].name = fmt.Sprintf("%s-%d", p.name, i+1)
	}
	return out
}

// Tenants of the demo.
const (
	// TenantAcme is a Capsule tenant with two namespaces.
	TenantAcme = "acme"
	// TenantGlobex requires sandboxes (mtscn.io/sandbox=required).
	TenantGlobex = "globex"
	// TenantInitech wants nodes of its own (mtscn.io/node-sharing=exclusive).
	TenantInitech = "initech"
	// TenantUmbrella has no policy.
	TenantUmbrella = "umbrella"
)

// Scenario returns the demo cluster and workload: six nodes of the kinds
// docs/labels.md describes, the kata-deploy RuntimeClasses, four tenants with
// different policies, and a mixed workload in submission order.
func Scenario() *simulate.Scenario {
	sc := &simulate.Scenario{}
	for _, s := range nodeSpecs {
		sc.Nodes = append(sc.Nodes, s.node())
	}
	sc.RuntimeClasses = []*nodev1.RuntimeClass{
		runtimeClass("kata-qemu", "320Mi", "250m"),
		runtimeClass("kata-qemu-runtime-rs", "320Mi", "250m"),
		runtimeClass("kata-clh", "130Mi", "250m"),
		runtimeClass("kata-qemu-snp", "2048Mi", "1"),
	}
	sc.Namespaces = []*v1.Namespace{
		namespace("acme-web", wellknown.LabelCapsuleTenant, TenantAcme),
		namespace("acme-batch", wellknown.LabelCapsuleTenant, TenantAcme),
		namespace("globex", wellknown.LabelSandboxPolicy, wellknown.SandboxRequired),
		namespace("initech", wellknown.LabelNodeSharing, wellknown.NodeSharingExclusive),
		namespace("umbrella"),
	}
	var pods []podSpec
	// globex: sandboxed web tier; its runc job must be refused (I3).
	pods = append(pods, replicas(4, podSpec{ns: "globex", name: "web", runtimeClass: "kata-qemu", request: "512Mi", limit: "1Gi", cpu: "250m"})...)
	pods = append(pods, podSpec{ns: "globex", name: "migrate-runc", request: "256Mi", limit: "256Mi", cpu: "100m"})
	// acme's TLS proxy offloads to a QAT VF passed through to its VM: it
	// needs the IOMMU and vfio-pci, and pins its guest memory.
	pods = append(pods, podSpec{ns: "acme-web", name: "tls-qat", runtimeClass: "kata-qemu", request: "512Mi", limit: "1Gi", cpu: "500m", extra: v1.ResourceList{wellknown.ResourceQATGeneric: resource.MustParse("1")}})
	// umbrella's confidential VM needs SEV-SNP.
	pods = append(pods, podSpec{ns: "umbrella", name: "vault-snp", runtimeClass: "kata-qemu-snp", request: "1Gi", limit: "2Gi", cpu: "500m"})
	// acme (two namespaces, one tenant): sandboxed frontends and a runc
	// batch job that turns a node into an acme-only node (I1).
	pods = append(pods, replicas(3, podSpec{ns: "acme-web", name: "frontend", runtimeClass: "kata-clh", request: "256Mi", limit: "512Mi", cpu: "250m"})...)
	pods = append(pods, replicas(2, podSpec{ns: "acme-batch", name: "etl-runc", request: "2Gi", limit: "2Gi", cpu: "1"})...)
	// initech: exclusive tenant (I2) with runc pods.
	pods = append(pods, replicas(2, podSpec{ns: "initech", name: "ledger-runc", request: "1Gi", limit: "1Gi", cpu: "500m"})...)
	// umbrella: runc pods, and big VMs whose guest memory the default
	// scheduler does not see (1Gi requested, 8.1Gi committed each).
	pods = append(pods, replicas(2, podSpec{ns: "umbrella", name: "cache-runc", request: "1Gi", limit: "1Gi", cpu: "250m"})...)
	pods = append(pods, replicas(6, podSpec{ns: "umbrella", name: "analytics", runtimeClass: "kata-qemu", request: "1Gi", limit: "6Gi", cpu: "500m"})...)
	for _, p := range pods {
		sc.NewPods = append(sc.NewPods, p.pod())
	}
	return sc
}
