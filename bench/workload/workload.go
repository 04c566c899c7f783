package workload

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// LabelClass is the node label naming a node's class (NodeClasses);
// node.yaml sets it.
const LabelClass = "bench.mtscn.io/class"

// Profile names, as the tables print them.
const (
	// ProfileDefault is kube-scheduler's default profile: the speed limit,
	// no isolation at all.
	ProfileDefault = "default"
	// ProfileAntiAffinity is the default profile with every pod carrying a
	// required pod anti-affinity against other tenants' namespaces: the
	// upstream way to isolate tenants.
	ProfileAntiAffinity = "anti-affinity"
	// ProfileMtscn is the shipped mtscn-scheduler profile.
	ProfileMtscn = "mtscn"
	// ProfileDedicatedPools pins each tenant to its own node pool with a
	// nodeSelector (the Capsule way) and schedules with the default profile.
	ProfileDedicatedPools = "dedicated-pools"
)

// Size is a cluster size: scheduler_perf workload name and label, node and
// pod counts.
type Size struct {
	Name  string
	Label string
	Nodes int
	Pods  int
}

var (
	// Small runs in `make bench`.
	Small = Size{Name: "500Nodes_5000Pods", Label: "small", Nodes: 500, Pods: 5000}
	// Full runs in `make bench-full`.
	Full = Size{Name: "5000Nodes_10000Pods", Label: "full", Nodes: 5000, Pods: 10000}
)

// Tenant is one tenant: one namespace, a share of the pods and a policy.
type Tenant struct {
	// Name is the tenant (mtscn.io/tenant) and the namespace prefix.
	Name string
	// Weight is the tenant's share of the pods, in percent.
	Weight int
	// Kata tenants run every pod in a Kata VM and say sandbox=required;
	// the others run runc (trusted, shared-kernel) pods.
	Kata bool
	// Exclusive tenants say node-sharing=exclusive.
	Exclusive bool
	// TDXEvery > 0: every TDXEvery-th pod is a TDX confidential VM.
	TDXEvery int
	// QATEvery > 0: every QATEvery-th pod gets a QAT VF through VFIO.
	QATEvery int
}

// Namespace is the tenant's namespace (scheduler_perf names namespaces
// <prefix>-<index>).
func (t Tenant) Namespace() string { return t.Name + "-0" }

// Tenants of the workload: 20 Kata tenants with 80% of the pods and 4 runc
// tenants with 20%, sized like real clusters (a few large tenants, a long
// tail of small ones). t02 and t07 run confidential (TDX) pods, t03 and t08
// use QAT, t05 and t23 demand exclusive nodes.
var Tenants = []Tenant{
	{Name: "t00", Weight: 16, Kata: true},
	{Name: "t01", Weight: 10, Kata: true},
	{Name: "t02", Weight: 8, Kata: true, TDXEvery: 4},
	{Name: "t03", Weight: 6, Kata: true, QATEvery: 5},
	{Name: "t04", Weight: 5, Kata: true},
	{Name: "t05", Weight: 5, Kata: true, Exclusive: true},
	{Name: "t06", Weight: 4, Kata: true},
	{Name: "t07", Weight: 4, Kata: true, TDXEvery: 4},
	{Name: "t08", Weight: 3, Kata: true, QATEvery: 5},
	{Name: "t09", Weight: 3, Kata: true},
	{Name: "t10", Weight: 3, Kata: true},
	{Name: "t11", Weight: 2, Kata: true},
	{Name: "t12", Weight: 2, Kata: true},
	{Name: "t13", Weight: 2, Kata: true},
	{Name: "t14", Weight: 2, Kata: true},
	{Name: "t15", Weight: 1, Kata: true},
	{Name: "t16", Weight: 1, Kata: true},
	{Name: "t17", Weight: 1, Kata: true},
	{Name: "t18", Weight: 1, Kata: true},
	{Name: "t19", Weight: 1, Kata: true},
	{Name: "t20", Weight: 10},
	{Name: "t21", Weight: 5},
	{Name: "t22", Weight: 3},
	{Name: "t23", Weight: 2, Exclusive: true},
}

// NodeClass is one kind of node and its share of the cluster.
type NodeClass struct {
	Name string
	// Weight is the class's share of the nodes, in twentieths.
	Weight int
	// Kata nodes have kata-deploy installed and KVM usable.
	Kata     bool
	VirtMode string
	TDX      bool
	IOMMU    bool
	QAT      bool
	// UnsafeEvery > 0: every UnsafeEvery-th node of the class is labelled
	// mtscn.io/cotenancy-safe=false (SMT on, a cross-VM leak unmitigated).
	UnsafeEvery int
	CPU         string
	Memory      string
	// SandboxMemory is /dev/shm: half the RAM by default.
	SandboxMemory string
	Sandboxes     int
}

// NodeClasses: bare-metal Kata hosts (some with an unmitigated SMT leak),
// cloud VMs with nested virtualization, TDX hosts, QAT hosts with VFs bound
// to vfio-pci, and nodes without KVM that only run runc.
var NodeClasses = []NodeClass{
	{Name: "hw", Weight: 11, Kata: true, VirtMode: wellknown.VirtModeHardware, IOMMU: true, UnsafeEvery: 8, CPU: "32", Memory: "64Gi", SandboxMemory: "32Gi", Sandboxes: 64},
	{Name: "nested", Weight: 4, Kata: true, VirtMode: wellknown.VirtModeNested, CPU: "16", Memory: "32Gi", SandboxMemory: "16Gi", Sandboxes: 32},
	{Name: "tdx", Weight: 1, Kata: true, VirtMode: wellknown.VirtModeHardware, TDX: true, IOMMU: true, CPU: "32", Memory: "64Gi", SandboxMemory: "32Gi", Sandboxes: 64},
	{Name: "qat", Weight: 1, Kata: true, VirtMode: wellknown.VirtModeHardware, IOMMU: true, QAT: true, CPU: "32", Memory: "64Gi", SandboxMemory: "32Gi", Sandboxes: 64},
	{Name: "plain", Weight: 3, CPU: "32", Memory: "64Gi"},
}

// Rounds is how many interleaved rounds the tenants' pods arrive in.
const Rounds = 4

// Split divides total by weights with the largest-remainder method: the
// parts add up to total exactly.
func Split(total int, weights []int) []int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	out := make([]int, len(weights))
	if sum == 0 {
		return out
	}
	type rem struct{ i, r int }
	left := total
	rems := make([]rem, len(weights))
	for i, w := range weights {
		out[i] = total * w / sum
		left -= out[i]
		rems[i] = rem{i, total * w % sum}
	}
	for ; left > 0; left-- {
		best := -1
		for j := range rems {
			if rems[j].r >= 0 && (best < 0 || rems[j].r > rems[best].r) {
				best = j
			}
		}
		out[rems[best].i]++
		rems[best].r = -1
	}
	return out
}

// NodeCounts is the number of nodes of each class in NodeClasses order.
func NodeCounts(nodes int) []int {
	w := make([]int, len(NodeClasses))
	for i, c := range NodeClasses {
		w[i] = c.Weight
	}
	return Split(nodes, w)
}

// PodCounts is the number of pods of each tenant in Tenants order.
func PodCounts(pods int) []int {
	w := make([]int, len(Tenants))
	for i, t := range Tenants {
		w[i] = t.Weight
	}
	return Split(pods, w)
}

// RoundCount is how many of a tenant's count pods arrive in round r.
func RoundCount(count, r int) int {
	n := count / Rounds
	if r < count%Rounds {
		n++
	}
	return n
}

//go:embed templates/*.yaml
var templates embed.FS

// podData is what stage 1 knows about a pod template.
type podData struct {
	Tenant
	AntiAffinity bool
	PoolSelector bool
}

// stage1 renders an embedded template with [[ ]] actions, leaving the
// {{ }} actions for scheduler_perf.
func stage1(name string, data any) (string, error) {
	raw, err := templates.ReadFile("templates/" + name)
	if err != nil {
		return "", fmt.Errorf("reading template %s: %w", name, err)
	}
	tmpl, err := template.New(name).Delims("[[", "]]").Option("missingkey=error").Parse(string(raw))
	if err != nil {
		return "", fmt.Errorf("parsing template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("rendering template %s: %w", name, err)
	}
	return buf.String(), nil
}

// stage2 compiles an object template as scheduler_perf does
// (k8s.io/kubernetes/test/integration/scheduler_perf
// getSpecFromTextTemplateFile: div and mod, rendered with .Index and .Count, decoded as strict YAML).
func stage2(text string) (*template.Template, error) {
	funcs := template.FuncMap{
		"div": func(a, b int) int { return a / b },
		"mod": func(a, b int) int { return a % b },
	}
	tmpl, err := template.New("object").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing object template: %w", err)
	}
	return tmpl, nil
}

// render renders object index of count into obj.
func render(tmpl *template.Template, index, count int, obj any) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{"Index": index, "Count": count}); err != nil {
		return fmt.Errorf("rendering object template: %w", err)
	}
	if err := yaml.UnmarshalStrict(buf.Bytes(), obj); err != nil {
		return fmt.Errorf("decoding rendered object %d: %w", index, err)
	}
	return nil
}

// compile runs stage 1 and compiles the result for stage 2.
func compile(name string, data any) (*template.Template, error) {
	text, err := stage1(name, data)
	if err != nil {
		return nil, err
	}
	tmpl, err := stage2(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return tmpl, nil
}

// SplitYAML splits a multi-document YAML file into its non-empty
// documents.
func SplitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range strings.Split("\n"+string(data), "\n---") {
		trimmed := strings.TrimSpace(stripComments(doc))
		if trimmed != "" {
			docs = append(docs, []byte(strings.TrimLeft(doc, "\n")))
		}
	}
	return docs
}

func stripComments(doc string) string {
	var out []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// RuntimeClasses decodes the RuntimeClass manifests (the shipped
// manifests/runtimeclasses/runtimeclasses.yaml, kata-deploy's classes with
// their overhead).
func RuntimeClasses(data []byte) ([]*nodev1.RuntimeClass, error) {
	var out []*nodev1.RuntimeClass
	for i, doc := range SplitYAML(data) {
		rc := &nodev1.RuntimeClass{}
		if err := yaml.UnmarshalStrict(doc, rc); err != nil {
			return nil, fmt.Errorf("decoding RuntimeClass document %d: %w", i, err)
		}
		out = append(out, rc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no RuntimeClass in the manifests")
	}
	return out, nil
}

// Variant selects how the pods of a profile differ from the plain workload.
type Variant struct {
	// AntiAffinity adds a required pod anti-affinity against every other
	// tenant's namespaces to every pod.
	AntiAffinity bool
	// PoolSelector adds nodeSelector bench.mtscn.io/pool=<tenant>.
	PoolSelector bool
}

// VariantFor returns the pod variant of a profile.
func VariantFor(profile string) Variant {
	return Variant{AntiAffinity: profile == ProfileAntiAffinity, PoolSelector: profile == ProfileDedicatedPools}
}

// Objects is the workload as API objects, in creation order.
type Objects struct {
	RuntimeClasses []*nodev1.RuntimeClass
	Nodes          []*v1.Node
	Namespaces     []*v1.Namespace
	// Pods in the order scheduler_perf creates them: round by round,
	// tenant by tenant.
	Pods []*v1.Pod
}

// Build renders the workload of a size with the same templates and the
// same .Index values scheduler_perf uses, naming the objects that the
// templates leave to generateName (nodes <class>-<index>, pods
// pod-<round>-<index>).
func Build(size Size, runtimeClasses []byte, variant Variant) (*Objects, error) {
	objs := &Objects{}
	var err error
	if objs.RuntimeClasses, err = RuntimeClasses(runtimeClasses); err != nil {
		return nil, err
	}
	for ci, count := range NodeCounts(size.Nodes) {
		class := NodeClasses[ci]
		tmpl, err := compile("node.yaml", class)
		if err != nil {
			return nil, err
		}
		for i := 0; i < count; i++ {
			n := &v1.Node{}
			if err := render(tmpl, i, count, n); err != nil {
				return nil, fmt.Errorf("node class %s: %w", class.Name, err)
			}
			n.Name = fmt.Sprintf("%s-%04d", class.Name, i)
			n.GenerateName = ""
			// scheduler_perf's node preparer sets it too.
			n.Labels[v1.LabelHostname] = n.Name
			objs.Nodes = append(objs.Nodes, n)
		}
	}
	podTmpls := make([]*template.Template, len(Tenants))
	for ti, t := range Tenants {
		tmpl, err := compile("namespace.yaml", t)
		if err != nil {
			return nil, err
		}
		ns := &v1.Namespace{}
		if err := render(tmpl, 0, 1, ns); err != nil {
			return nil, fmt.Errorf("namespace of tenant %s: %w", t.Name, err)
		}
		ns.Name = t.Namespace()
		objs.Namespaces = append(objs.Namespaces, ns)
		if podTmpls[ti], err = compile("pod.yaml", podData{Tenant: t, AntiAffinity: variant.AntiAffinity, PoolSelector: variant.PoolSelector}); err != nil {
			return nil, err
		}
	}
	counts := PodCounts(size.Pods)
	for r := 0; r < Rounds; r++ {
		for ti, t := range Tenants {
			n := RoundCount(counts[ti], r)
			for i := 0; i < n; i++ {
				p := &v1.Pod{}
				if err := render(podTmpls[ti], i, n, p); err != nil {
					return nil, fmt.Errorf("pod of tenant %s: %w", t.Name, err)
				}
				p.Namespace = t.Namespace()
				p.Name = fmt.Sprintf("pod-%d-%04d", r, i)
				p.GenerateName = ""
				objs.Pods = append(objs.Pods, p)
			}
		}
	}
	return objs, nil
}
