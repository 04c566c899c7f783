package nodeinstall

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/node/agent"
	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/node/install"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
	"github.com/mtscn/mtscn/test/integration/harness"
	nfdharness "github.com/mtscn/mtscn/test/integration/harness/nfd"
)

// The tests of this file check that discovery is the one writer of
// mtscn.io/runtime.<handler> (docs/node-agent.md#one-writer-per-label):
// the installer never writes it, withdraws a handler through the note and
// waits for discovery before containerd changes, and reports the node
// ready only once discovery publishes the label.

var runscLabel = wellknown.RuntimeLabel(install.GVisorHandler)

// gvisorInstaller is an installer of gVisor on the fixture host root,
// labelling node through the real apiserver.
func gvisorInstaller(t *testing.T, cp *harness.ControlPlane, root string, restarter install.Restarter, mutate ...func(*install.Options)) *install.Installer {
	t.Helper()
	o := install.Options{
		HostRoot:         root,
		Sandboxes:        []string{install.SandboxGVisor},
		GVisorArtifacts:  filepath.Join(harness.RepoRoot(), "pkg/node/install/testdata/artifacts-gvisor"),
		DiscoveryTimeout: 30 * time.Second,
	}
	for _, m := range mutate {
		m(&o)
	}
	in, err := install.New(o, install.WithNode(&install.KubeNode{Client: cp.Client, Name: nodeName}),
		install.WithRestarter(restarter), install.WithVerifier(verifier(t, root)), install.WithPollInterval(20*time.Millisecond),
		install.WithSandboxLister(noSandboxes{}))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// standInDiscovery plays mtscn-node's discovery on the fixture host, as a
// separate writer of the Node: every 20 ms it runs the real kata source
// (containerd's config chain and the installer's note) and patches
// mtscn.io/runtime.<handler> with its own field manager. The test gates
// what it may do.
type standInDiscovery struct {
	// publish and drop allow adding and removing labels.
	publish, drop atomic.Bool
	// beforeDrop, when set, runs once before the first label is dropped.
	beforeDrop func(note withdrawal.Note)
	once       sync.Once
}

func (d *standInDiscovery) run(t *testing.T, ctx context.Context, cp *harness.ControlPlane, root string) {
	go func() {
		for ctx.Err() == nil {
			res := discover.Discover(ctx, discover.Options{HostRoot: root, Sources: []string{discover.SourceKata}, CRISocket: "none"})
			want := map[string]bool{}
			if res.Kata != nil {
				for _, h := range res.Kata.Handlers {
					if h.Sandbox != "" && !h.Withdrawn {
						want[wellknown.RuntimeLabel(h.Name)] = true
					}
				}
			}
			node, err := cp.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
			if err == nil {
				patch := map[string]any{}
				for k := range node.Labels {
					if strings.HasPrefix(k, wellknown.LabelRuntimePrefix) && !want[k] && d.drop.Load() {
						if d.beforeDrop != nil {
							note, _ := withdrawal.Read("/", filepath.Join(root, withdrawal.DefaultPath))
							d.once.Do(func() { d.beforeDrop(note) })
						}
						patch[k] = nil
					}
				}
				for k := range want {
					if node.Labels[k] != wellknown.ValueTrue && d.publish.Load() {
						patch[k] = wellknown.ValueTrue
					}
				}
				if len(patch) > 0 {
					body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": patch}})
					if _, err := cp.Client.CoreV1().Nodes().Patch(ctx, nodeName, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "discovery-stand-in"}); err != nil && ctx.Err() == nil {
						t.Logf("stand-in discovery: %v", err)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

// managersOf returns the field managers of the Node that own label key.
func managersOf(t *testing.T, node *v1.Node, key string) []string {
	t.Helper()
	var out []string
	for _, mf := range node.ManagedFields {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			t.Fatal(err)
		}
		meta, _ := fields["f:metadata"].(map[string]any)
		labels, _ := meta["f:labels"].(map[string]any)
		if _, ok := labels["f:"+key]; ok {
			out = append(out, mf.Manager)
		}
	}
	slices.Sort(out)
	return out
}

func getNode(t *testing.T, cp *harness.ControlPlane) *v1.Node {
	t.Helper()
	node, err := cp.Client.CoreV1().Nodes().Get(cp.Ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstallerWaitsForDiscovery runs the installer against the real
// apiserver beside a stand-in discovery it cannot control:
//   - after a verified install the node keeps its startup taint and stays
//     pending until discovery publishes mtscn.io/runtime.runsc, and the
//     label's only manager is discovery;
//   - uninstall does not touch containerd's config until discovery has
//     dropped the label;
//   - when discovery does not drop it, uninstall fails after the timeout
//     with one Warning Event naming the label and leaves config.toml byte
//     for byte unchanged; --force goes on.
func TestInstallerWaitsForDiscovery(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartControlPlane(t)
	cp.CreateNode(t, st.MakeNode().Name(nodeName).Label("kubernetes.io/hostname", nodeName).Taints([]v1.Taint{startupTaint}).Obj())
	root := fixtureHost(t, "containerd-1.6")
	configPath := filepath.Join(root, "etc/containerd/config.toml")
	origConfig := readFile(t, configPath)
	restarter := &atomicRestarter{}
	d := &standInDiscovery{}
	d.drop.Store(true)
	dctx, stopDiscovery := context.WithCancel(ctx)
	defer stopDiscovery()
	d.run(t, dctx, cp, root)

	// Install: verified, but discovery does not publish yet.
	in := gvisorInstaller(t, cp, root, restarter)
	done := make(chan error, 1)
	go func() { _, err := in.Install(ctx); done <- err }()
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return restarter.n.Load() == 1, nil
	}); err != nil {
		t.Fatal("the install never restarted containerd")
	}
	time.Sleep(500 * time.Millisecond) // the installer waits for discovery meanwhile
	node := getNode(t, cp)
	if !slices.ContainsFunc(node.Spec.Taints, func(tn v1.Taint) bool { return tn.Key == wellknown.TaintSandboxNotReady }) ||
		node.Labels[wellknown.LabelSandboxRuntime] != wellknown.SandboxRuntimePending {
		t.Errorf("verified install before discovery published the label: labels %v taints %v; want pending and still tainted", node.Labels, node.Spec.Taints)
	}
	select {
	case err := <-done:
		t.Fatalf("Install returned before discovery published the label: %v", err)
	default:
	}
	d.publish.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("Install: %v", err)
	}
	node = getNode(t, cp)
	if node.Labels[runscLabel] != "true" || node.Labels[wellknown.LabelSandboxRuntime] != "true" || len(node.Spec.Taints) != 0 {
		t.Errorf("after install: labels %v taints %v; want %s=true, ready, untainted", node.Labels, node.Spec.Taints, runscLabel)
	}
	if got := managersOf(t, node, runscLabel); !cmp.Equal(got, []string{"discovery-stand-in"}) {
		t.Errorf("managers of %s = %v, want only discovery's", runscLabel, got)
	}
	if got := managersOf(t, node, wellknown.LabelSandboxRuntime); !cmp.Equal(got, []string{install.FieldManager}) {
		t.Errorf("managers of %s = %v, want only the installer (%s)", wellknown.LabelSandboxRuntime, got, install.FieldManager)
	}
	installedConfig := readFile(t, configPath)
	if installedConfig == origConfig {
		t.Fatal("the install did not edit config.toml")
	}

	// Uninstall without discovery dropping the label: after the timeout
	// nothing changed on the host, one Warning says what to check.
	d.drop.Store(false)
	short := gvisorInstaller(t, cp, root, restarter, func(o *install.Options) { o.DiscoveryTimeout = time.Second })
	if _, err := short.Uninstall(ctx); !errors.Is(err, install.ErrDiscoveryTimeout) {
		t.Fatalf("Uninstall without discovery: %v, want ErrDiscoveryTimeout", err)
	}
	if got := readFile(t, configPath); got != installedConfig {
		t.Errorf("config.toml changed although discovery never dropped %s", runscLabel)
	}
	if _, err := os.Stat(filepath.Join(root, "opt/mtscn/gvisor")); err != nil {
		t.Errorf("artifacts removed although discovery never dropped %s: %v", runscLabel, err)
	}
	if restarter.n.Load() != 1 {
		t.Errorf("containerd restarted %d times, want 1 (the install)", restarter.n.Load())
	}
	var warnings []v1.Event
	for _, e := range nodeEvents(t, cp) {
		if e.Type == v1.EventTypeWarning {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) != 1 || warnings[0].Reason != install.EventDiscoveryTimeout ||
		!strings.Contains(warnings[0].Message, runscLabel) || !strings.Contains(warnings[0].Message, "is mtscn-node discovery") ||
		!strings.Contains(warnings[0].Message, "containerd was left unchanged") {
		t.Errorf("warnings = %v, want one %s naming %s and what to check", warnings, install.EventDiscoveryTimeout, runscLabel)
	}

	// Uninstall with discovery: containerd's config is untouched until
	// the label is gone.
	var withdrawnSeen atomic.Bool
	d.beforeDrop = func(note withdrawal.Note) {
		withdrawnSeen.Store(note.Withdrawn(install.GVisorHandler))
		time.Sleep(300 * time.Millisecond) // a slow discovery round
		if got := readFile(t, configPath); got != installedConfig || restarter.n.Load() != 1 {
			t.Errorf("containerd changed (config changed %v, restarts %d) before discovery dropped %s", got != installedConfig, restarter.n.Load(), runscLabel)
		}
	}
	d.drop.Store(true)
	if _, err := in.Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if !withdrawnSeen.Load() {
		t.Errorf("discovery did not find %s withdrawn in the note", install.GVisorHandler)
	}
	if got := readFile(t, configPath); got != origConfig {
		t.Errorf("config.toml not restored byte for byte")
	}
	node = getNode(t, cp)
	if _, ok := node.Labels[runscLabel]; ok {
		t.Errorf("%s still on the Node after uninstall", runscLabel)
	}
	if _, err := os.Stat(filepath.Join(root, withdrawal.DefaultPath)); !os.IsNotExist(err) {
		t.Errorf("withdrawal note left after uninstall: %v", err)
	}
	if got := managersOf(t, node, runscLabel); len(got) != 0 {
		t.Errorf("managers of the removed %s = %v", runscLabel, got)
	}
}

// atomicRestarter counts containerd restarts (read by other goroutines).
type atomicRestarter struct{ n atomic.Int32 }

func (r *atomicRestarter) Restart(context.Context, string) error { r.n.Add(1); return nil }

// noSandboxes lists no running sandbox.
type noSandboxes struct{}

func (noSandboxes) RunningSandboxes(context.Context, []string) ([]string, error) { return nil, nil }

// TestOneWriterWithNFD runs the whole chain on the real apiserver: the
// real mtscn-node discovery agent (NodeFeature mode, on the installer's
// fixture host), the real nfd-master with the shipped nfd-rules/, and the
// installer. Install, uninstall and reinstall converge without the two
// writers fighting: mtscn.io/runtime.runsc is owned by nfd-master alone,
// appears before the node is reported ready, and is gone before
// containerd loses the handler.
func TestOneWriterWithNFD(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartFullControlPlane(t)
	cp.InstallCRDs(t, harness.NFDCRDs(t))
	cp.CreateNamespace(t, "mtscn-system", nil)
	n := st.MakeNode().Name(nodeName).Label("kubernetes.io/hostname", nodeName).Taints([]v1.Taint{startupTaint}).Obj()
	// nfd-master's JSON patch adds its annotations into the kubelet's map.
	n.Annotations = map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"}
	cp.CreateNode(t, n)
	nfd := nfdharness.NewClient(t, cp.Config)
	nfdharness.CreateRules(t, ctx, nfd)
	nfdharness.StartMaster(t, cp, nodeName)

	root := fixtureHost(t, "containerd-1.6")
	configPath := filepath.Join(root, "etc/containerd/config.toml")
	origConfig := readFile(t, configPath)
	cfg := agent.DefaultConfig()
	cfg.NodeName, cfg.Namespace, cfg.ListenAddress = nodeName, "mtscn-system", ""
	cfg.Interval = metav1.Duration{Duration: time.Hour} // only the note wakes it
	a, err := agent.New(cfg, agent.WithNFDClient(nfd), agent.WithKubeClient(cp.Client), agent.WithNoteCheckInterval(50*time.Millisecond),
		agent.WithDiscoverOptions(func(o *discover.Options) {
			o.HostRoot, o.Sources, o.CRISocket = root, []string{discover.SourceKata}, "none"
		}))
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(actx) }()
	defer func() {
		stopAgent()
		<-agentDone
	}()

	in := gvisorInstaller(t, cp, root, &atomicRestarter{})
	wantOwner := func(step string) {
		t.Helper()
		node := getNode(t, cp)
		if node.Labels[runscLabel] != "true" || node.Labels[wellknown.LabelSandboxRuntime] != "true" || len(node.Spec.Taints) != 0 {
			t.Errorf("%s: labels %v taints %v; want %s=true, ready, untainted", step, node.Labels, node.Spec.Taints, runscLabel)
		}
		managers := managersOf(t, node, runscLabel)
		if len(managers) != 1 || managers[0] == install.FieldManager {
			t.Errorf("%s: managers of %s = %v, want nfd-master alone", step, runscLabel, managers)
		}
		t.Logf("%s: %s managed by %v", step, runscLabel, managers)
	}
	if _, err := in.Install(ctx); err != nil {
		t.Fatalf("Install: %v", err)
	}
	wantOwner("install")

	if _, err := in.Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	node := getNode(t, cp)
	if _, ok := node.Labels[runscLabel]; ok {
		t.Errorf("%s still on the Node after uninstall", runscLabel)
	}
	if got := readFile(t, configPath); got != origConfig {
		t.Errorf("config.toml not restored byte for byte")
	}
	// The label was gone before containerd changed: the installer says
	// so in an Event it records only after it saw the label gone.
	var withdrawn []string
	for _, e := range nodeEvents(t, cp) {
		if e.Reason == install.EventRuntimeWithdrawn {
			withdrawn = append(withdrawn, e.Message)
		}
	}
	if len(withdrawn) != 1 || !strings.Contains(withdrawn[0], runscLabel) || !strings.Contains(withdrawn[0], "for=uninstall") {
		t.Errorf("%s events = %q, want one for the uninstall naming %s", install.EventRuntimeWithdrawn, withdrawn, runscLabel)
	}

	// Stays gone: nothing re-adds it (no second writer), until reinstall.
	time.Sleep(time.Second)
	if _, ok := getNode(t, cp).Labels[runscLabel]; ok {
		t.Errorf("%s came back after uninstall", runscLabel)
	}
	if _, err := in.Install(ctx); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	wantOwner("reinstall")
}
