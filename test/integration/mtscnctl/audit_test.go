package mtscnctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// writeKubeconfig writes cfg (the harness's loopback superuser) as a
// kubeconfig file, as a user would have one.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData, InsecureSkipTLSVerify: cfg.Insecure, TLSServerName: cfg.ServerName}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAudit runs the binary and returns stdout, stderr and the exit code.
func runAudit(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(mtscnctlBin, append([]string{"audit"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running mtscnctl audit: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

type auditJSON struct {
	Nodes      int `json:"nodes"`
	Violations []struct {
		Rule    string   `json:"rule"`
		Node    string   `json:"node"`
		Tenants []string `json:"tenants"`
		Pods    []string `json:"pods"`
		Message string   `json:"message"`
	} `json:"violations"`
}

// auditCluster builds five nodes and five tenants. With broken=true, pods
// are bound directly (spec.nodeName, no scheduler) so that each of I1, I2,
// I3, I4, F1, F2 and F3 is violated exactly once, each on its own node;
// with broken=false the same pods are spread legally.
func auditCluster(t *testing.T, cp *harness.ControlPlane, broken bool) {
	cp.CreateRuntimeClass(t, "kata-qemu", "kata-qemu", v1.ResourceList{v1.ResourceMemory: resource.MustParse("320Mi"), v1.ResourceCPU: resource.MustParse("250m")}, nil)
	cp.CreateNamespace(t, "alpha", map[string]string{wellknown.LabelTenant: "alpha"})
	cp.CreateNamespace(t, "bravo", nil)
	cp.CreateNamespace(t, "excl", map[string]string{wellknown.LabelNodeSharing: wellknown.NodeSharingExclusive})
	cp.CreateNamespace(t, "strict", map[string]string{wellknown.LabelSandboxPolicy: wellknown.SandboxRequired})
	cp.CreateNamespace(t, "charlie", nil)
	// An infrastructure pod on every node must never count.
	for _, n := range []string{"n-i1", "n-i2", "n-i3", "n-i4", "n-f1", "n-f2", "n-f3", "n-spare"} {
		node := st.MakeNode().Name(n).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "16", v1.ResourceMemory: "32Gi"})
		switch n {
		case "n-i4":
			node = node.Label(wellknown.LabelCotenancySafe, "false")
		case "n-f1":
			node = st.MakeNode().Name(n).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "16", v1.ResourceMemory: "4Gi"})
		case "n-f2":
			node = st.MakeNode().Name(n).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "16", v1.ResourceMemory: "32Gi", wellknown.ResourceSandboxMemory: "2Gi"})
		case "n-f3":
			node = st.MakeNode().Name(n).Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "16", v1.ResourceMemory: "32Gi", wellknown.ResourceSandboxes: "1"})
		}
		if n != "n-i4" {
			// The agent found no cross-VM leak: I4 fails closed without it.
			node = node.Label(wellknown.LabelCotenancySafe, wellknown.ValueTrue)
		}
		cp.CreateNode(t, node.Obj())
		cp.CreatePod(t, st.MakePod().Namespace("kube-system").Name("agent-"+n).Node(n).Obj())
	}
	kata := func(ns, name, node string) *v1.Pod {
		pod := st.MakePod().Namespace(ns).Name(name).Node(node).Obj()
		pod.Spec.Containers = []v1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")},
		}}}
		pod.Spec.RuntimeClassName = ptr.To("kata-qemu")
		return pod
	}
	runc := func(ns, name, node string) *v1.Pod {
		return st.MakePod().Namespace(ns).Name(name).Node(node).Req(map[v1.ResourceName]string{v1.ResourceMemory: "256Mi"}).Obj()
	}
	place := func(brokenNode, cleanNode string) string {
		if broken {
			return brokenNode
		}
		return cleanNode
	}
	// I1: a shared-kernel pod of alpha next to a sandboxed pod of bravo.
	cp.CreatePod(t, runc("alpha", "runc-1", "n-i1"))
	cp.CreatePod(t, kata("bravo", "vm-1", place("n-i1", "n-spare")))
	// I2: the exclusive tenant next to bravo (both sandboxed).
	cp.CreatePod(t, kata("excl", "vm-1", "n-i2"))
	cp.CreatePod(t, kata("bravo", "vm-2", place("n-i2", "n-spare")))
	// I3: a runc pod of a sandbox=required tenant, alone on its node.
	if broken {
		cp.CreatePod(t, runc("strict", "runc-1", "n-i3"))
	} else {
		cp.CreatePod(t, kata("strict", "vm-1", "n-i3"))
	}
	// I4: two tenants' VMs on a cotenancy-unsafe node.
	cp.CreatePod(t, kata("alpha", "vm-1", "n-i4"))
	cp.CreatePod(t, kata("bravo", "vm-3", place("n-i4", "n-spare")))
	// F1: 2 VMs of 2Gi + 1Gi + VMM each on a 4Gi node, while
	// requests + overhead (2 × 576Mi) fit easily.
	cp.CreatePod(t, kata("charlie", "vm-1", "n-f1"))
	cp.CreatePod(t, kata("charlie", "vm-2", place("n-f1", "n-spare")))
	// F2: a kata-qemu guest of 3Gi in /dev/shm on a node that can back 2Gi.
	cp.CreatePod(t, kata("charlie", "vm-3", place("n-f2", "n-spare")))
	// F3: two VMs on a node with one VM slot.
	cp.CreatePod(t, kata("charlie", "vm-4", "n-f3"))
	cp.CreatePod(t, kata("charlie", "vm-5", place("n-f3", "n-spare")))
}

func TestAuditReportsEachViolation(t *testing.T) {
	cp := harness.StartControlPlane(t)
	auditCluster(t, cp, true)
	kubeconfig := writeKubeconfig(t, cp.Config)

	stdout, stderr, code := runAudit(t, "--kubeconfig", kubeconfig, "-o", "json")
	if code != 1 {
		t.Errorf("exit code = %d, want 1 (stderr: %s)", code, stderr)
	}
	var got auditJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decoding -o json output: %v\n%s", err, stdout)
	}
	type finding struct{ Rule, Node string }
	var findings []finding
	for _, v := range got.Violations {
		findings = append(findings, finding{v.Rule, v.Node})
	}
	want := []finding{{"I1", "n-i1"}, {"I2", "n-i2"}, {"I3", "n-i3"}, {"I4", "n-i4"}, {"F1", "n-f1"}, {"F2", "n-f2"}, {"F3", "n-f3"}}
	if diff := cmp.Diff(want, findings); diff != "" {
		t.Errorf("violations (-want,+got):\n%s\nfull output:\n%s", diff, stdout)
	}
	for _, v := range got.Violations {
		if v.Rule == "I3" && !cmp.Equal(v.Pods, []string{"strict/runc-1"}) {
			t.Errorf("I3 names pods %v, want [strict/runc-1]", v.Pods)
		}
		if v.Rule == "F1" && !strings.Contains(v.Message, "4Gi") {
			t.Errorf("overcommit message %q does not name the node's 4Gi", v.Message)
		}
	}
	if !strings.Contains(stderr, "7 violation(s) found") {
		t.Errorf("stderr %q does not say how many violations were found", stderr)
	}

	// The table names every rule too.
	table, _, code := runAudit(t, "--kubeconfig", kubeconfig)
	if code != 1 {
		t.Errorf("table: exit code = %d, want 1", code)
	}
	for _, rule := range []string{"I1 ", "I2 ", "I3 ", "I4 ", "F1 ", "F2 ", "F3 "} {
		if !strings.Contains(table, rule) {
			t.Errorf("table output lacks rule %q:\n%s", rule, table)
		}
	}
}

func TestAuditCleanCluster(t *testing.T) {
	cp := harness.StartControlPlane(t)
	auditCluster(t, cp, false)
	kubeconfig := writeKubeconfig(t, cp.Config)

	stdout, stderr, code := runAudit(t, "--kubeconfig", kubeconfig, "--scheduler-config", harness.ShippedConfig())
	if code != 0 {
		t.Errorf("exit code = %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "audited 8 nodes, 20 pods") || !strings.Contains(stdout, "no violations") {
		t.Errorf("unexpected report:\n%s", stdout)
	}
	jsonOut, _, code := runAudit(t, "--kubeconfig", kubeconfig, "-o", "json")
	if code != 0 {
		t.Errorf("json: exit code = %d, want 0", code)
	}
	var got auditJSON
	if err := json.Unmarshal([]byte(jsonOut), &got); err != nil {
		t.Fatal(err)
	}
	if got.Nodes != 8 || len(got.Violations) != 0 {
		t.Errorf("json report: %d nodes, violations %v; want 8 nodes, none", got.Nodes, got.Violations)
	}
}

func TestAuditBadFlags(t *testing.T) {
	_, stderr, code := runAudit(t, "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	if code != 1 || !strings.Contains(stderr, "loading kubeconfig") {
		t.Errorf("missing kubeconfig: exit %d, stderr %q; want 1 and an error about the kubeconfig", code, stderr)
	}
	_, stderr, code = runAudit(t, "-o", "yaml")
	if code != 1 || !strings.Contains(stderr, `--output "yaml": want table or json`) {
		t.Errorf("bad -o: exit %d, stderr %q", code, stderr)
	}
}
