package nodeinstall

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/node/install"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
)

const nodeName = "kata-node"

var startupTaint = v1.Taint{Key: wellknown.TaintSandboxNotReady, Effect: v1.TaintEffectNoSchedule}

// fixtureHost copies one of the installer's fixture hosts to a temp dir.
func fixtureHost(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(harness.RepoRoot(), "pkg/node/install/testdata/hosts", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// verifier is the real `containerd config dump` on the fixture host when
// containerd is installed (a private mount namespace binds the fixture's
// /etc/containerd over /etc/containerd), else none.
func verifier(t *testing.T, root string) install.Verifier {
	if _, err := exec.LookPath("containerd"); err != nil || os.Geteuid() != 0 {
		t.Log("containerd is not installed (or not root): the handlers are not verified by containerd in this run; `bash hack/install-containerd.sh` installs it")
		return install.NoVerify{}
	}
	if _, err := os.Stat("/etc/containerd"); err != nil {
		t.Log("/etc/containerd is missing: the handlers are not verified by containerd in this run")
		return install.NoVerify{}
	}
	script := `mount --bind "$1/etc/containerd" /etc/containerd && shift && exec containerd "$@"`
	return install.DumpVerifier{
		Command: []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root},
		Config:  install.DefaultContainerdConfig,
	}
}

// gatedRestarter blocks the install at the containerd restart until
// released, so the test can look at the node mid-install.
type gatedRestarter struct {
	entered chan struct{}
	release chan struct{}
	count   int
}

func (g *gatedRestarter) Restart(ctx context.Context, _ string) error {
	g.count++
	if g.entered != nil {
		close(g.entered)
		g.entered = nil
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func nodeEvents(t *testing.T, cp *harness.ControlPlane) []v1.Event {
	t.Helper()
	list, err := cp.Client.CoreV1().Events(metav1.NamespaceDefault).List(cp.Ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": "Node", "involvedObject.name": nodeName}.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func reasons(events []v1.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type+" "+e.Reason)
	}
	return out
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestDaemonSetLifecycle runs the DaemonSet mode against the real
// apiserver: the node is claimed before the host is touched, stays tainted
// (a plain pod stays pending) and /readyz answers 503 while the install
// runs; once verified the node is labelled and untainted, /readyz answers
// 200 and the pod schedules; on SIGTERM everything is undone.
func TestDaemonSetLifecycle(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartControlPlane(t)
	cp.StartScheduler(t)
	cp.CreateNode(t, st.MakeNode().Name(nodeName).Label("kubernetes.io/hostname", nodeName).
		Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "8", v1.ResourceMemory: "32Gi"}).Taints([]v1.Taint{startupTaint}).Obj())
	cp.CreateNamespace(t, "team-a", nil)
	cp.CreatePod(t, st.MakePod().Namespace("team-a").Name("web").Obj())

	root := fixtureHost(t, "containerd-1.6")
	origConfig, err := os.ReadFile(filepath.Join(root, "etc/containerd/config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	restarter := &gatedRestarter{entered: make(chan struct{}), release: make(chan struct{})}
	entered := restarter.entered
	in, err := install.New(install.Options{
		HostRoot:     root,
		ArtifactsDir: filepath.Join(harness.RepoRoot(), "pkg/node/install/testdata/artifacts"),
		// No CRI to list running sandboxes on a fixture host.
		Force: true,
	}, install.WithNode(&install.KubeNode{Client: cp.Client, Name: nodeName}), install.WithRestarter(restarter), install.WithVerifier(verifier(t, root)))
	if err != nil {
		t.Fatal(err)
	}
	// Discovery writes the runtime labels (handoff_test.go).
	d := &standInDiscovery{}
	d.publish.Store(true)
	d.drop.Store(true)
	d.run(t, ctx, cp, root)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	daemonCtx, sigterm := context.WithCancel(ctx)
	defer sigterm()
	done := make(chan error, 1)
	go func() {
		done <- in.Serve(daemonCtx, ln, install.DaemonOptions{RetryInterval: time.Second})
	}()

	// Mid-install: claimed, still tainted, not ready, pod pending.
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the install never reached the containerd restart")
	}
	node, err := cp.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPending := map[string]string{"kubernetes.io/hostname": nodeName, wellknown.LabelSandboxRuntime: "pending", wellknown.LabelKataRuntime: "false"}
	if diff := cmp.Diff(wantPending, node.Labels); diff != "" {
		t.Errorf("labels while installing (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]v1.Taint{startupTaint}, node.Spec.Taints, cmpopts.IgnoreFields(v1.Taint{}, "TimeAdded")); diff != "" {
		t.Errorf("taints while installing (-want,+got):\n%s", diff)
	}
	if code := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while installing = %d, want 503", code)
	}
	if code := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while installing = %d, want 200", code)
	}
	cp.ExpectNotBound(t, "team-a", "web", time.Second)

	// Let containerd "restart": the install completes.
	close(restarter.release)
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return get(t, base+"/readyz") == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("/readyz never became 200: %v", err)
	}
	node, err = cp.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantReady := map[string]string{
		"kubernetes.io/hostname":                              nodeName,
		wellknown.LabelSandboxRuntime:                         "true",
		wellknown.LabelKataRuntime:                            "true",
		wellknown.LabelRuntimePrefix + "kata-clh":             "true",
		wellknown.LabelRuntimePrefix + "kata-qemu":            "true",
		wellknown.LabelRuntimePrefix + "kata-qemu-runtime-rs": "true",
	}
	if diff := cmp.Diff(wantReady, node.Labels); diff != "" {
		t.Errorf("labels when ready (-want,+got):\n%s", diff)
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("taints when ready = %v, want the startup taint removed", node.Spec.Taints)
	}
	if got := cp.WaitForBound(t, "team-a", "web", 30*time.Second); got != nodeName {
		t.Errorf("pod bound to %q, want %s", got, nodeName)
	}
	wantEvents := []string{
		"Normal SandboxInstalling", "Normal ContainerdConfigBackedUp", "Normal SandboxArtifactsInstalled",
		"Normal ContainerdConfigEdited", "Normal ContainerdRestarted", "Normal SandboxInstalled",
	}
	// Event timestamps have a one-second resolution: compare as a set.
	if diff := cmp.Diff(wantEvents, reasons(nodeEvents(t, cp)), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("events on the node (-want,+got):\n%s", diff)
	}

	// SIGTERM (a DaemonSet rollout) leaves the runtimes installed; the
	// explicit uninstall removes them.
	sigterm()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after SIGTERM")
	}
	node, err = cp.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels[wellknown.LabelSandboxRuntime] != wellknown.SandboxRuntimeTrue || restarter.count != 1 {
		t.Errorf("after SIGTERM: labels %v, restarts %d; want still installed, one restart", node.Labels, restarter.count)
	}
	if _, err := in.Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	node, err = cp.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"kubernetes.io/hostname": nodeName}, node.Labels); diff != "" {
		t.Errorf("labels after uninstall (-want,+got):\n%s", diff)
	}
	got, err := os.ReadFile(filepath.Join(root, "etc/containerd/config.toml"))
	if err != nil || string(got) != string(origConfig) {
		t.Errorf("config.toml not restored byte for byte (err=%v)", err)
	}
	if _, err := os.Stat(filepath.Join(root, "opt/mtscn/kata")); !os.IsNotExist(err) {
		t.Errorf("/opt/mtscn/kata still there after uninstall: %v", err)
	}
	if restarter.count != 2 {
		t.Errorf("containerd restarts = %d, want 2 (install, uninstall)", restarter.count)
	}
	last := reasons(nodeEvents(t, cp))
	if !slices.Contains(last, "Normal SandboxUninstalled") {
		t.Errorf("events after uninstall = %q, want SandboxUninstalled", last)
	}
}

// TestFailedInstallKeepsNodeOutOfService: an unparsable config.toml fails
// the install before any host change; the node says so, keeps its startup
// taint, and a Warning event names the file.
func TestFailedInstallKeepsNodeOutOfService(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartControlPlane(t)
	cp.CreateNode(t, st.MakeNode().Name(nodeName).Taints([]v1.Taint{startupTaint}).Obj())
	root := fixtureHost(t, "unparsable")
	in, err := install.New(install.Options{
		HostRoot:     root,
		ArtifactsDir: filepath.Join(harness.RepoRoot(), "pkg/node/install/testdata/artifacts"),
	}, install.WithNode(&install.KubeNode{Client: cp.Client, Name: nodeName}), install.WithRestarter(install.NoRestart{}), install.WithVerifier(install.NoVerify{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Install(ctx); err == nil {
		t.Fatal("Install succeeded on an unparsable config.toml")
	}
	node, err := cp.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels[wellknown.LabelSandboxRuntime] != "failed" || node.Labels[wellknown.LabelKataRuntime] != "false" {
		t.Errorf("labels = %v, want %s=failed and %s=false", node.Labels, wellknown.LabelSandboxRuntime, wellknown.LabelKataRuntime)
	}
	if diff := cmp.Diff([]v1.Taint{startupTaint}, node.Spec.Taints, cmpopts.IgnoreFields(v1.Taint{}, "TimeAdded")); diff != "" {
		t.Errorf("taints (-want,+got):\n%s", diff)
	}
	events := nodeEvents(t, cp)
	if len(events) != 1 || events[0].Type != v1.EventTypeWarning || events[0].Reason != "SandboxInstallFailed" ||
		!strings.Contains(events[0].Message, "etc/containerd/config.toml is not valid TOML") {
		t.Errorf("events = %+v, want one Warning SandboxInstallFailed naming config.toml", events)
	}
}
