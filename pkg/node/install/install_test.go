package install

import (
	"context"
	"errors"
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
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

var allHandlers = []string{"kata-clh", "kata-qemu", "kata-qemu-runtime-rs"}

// wantRuntime is the runtime table the drop-in must hold for a shim.
func wantRuntime(shim string) map[string]any {
	bin, cfg := "/opt/kata/bin/containerd-shim-kata-v2", "/opt/kata/share/defaults/kata-containers/configuration-"+shim+".toml"
	if strings.HasSuffix(shim, "-runtime-rs") {
		bin, cfg = "/opt/kata/runtime-rs/bin/containerd-shim-kata-v2", "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration-"+shim+".toml"
	}
	return map[string]any{
		"runtime_type":                    "io.containerd.kata-" + shim + ".v2",
		"runtime_path":                    bin,
		"privileged_without_host_devices": true,
		"pod_annotations":                 []any{"io.katacontainers.*"},
		"options":                         map[string]any{"ConfigPath": cfg},
	}
}

func readTOML(t *testing.T, p string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseTOML(p, b)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func eventReasons(n *MemoryNode) []string {
	var out []string
	for _, e := range n.Events {
		reason := strings.SplitN(strings.SplitN(e, ":", 2)[0], " ", 2)[1]
		out = append(out, reason)
	}
	return out
}

func TestInstallReinstallUninstall(t *testing.T) {
	const dropIn = "/etc/containerd/conf.d/mtscn-kata.toml"
	tests := []struct {
		name    string
		fixture string
		version int
		// wantImportAdded: config.toml gets an imports entry (it does not
		// import conf.d already); otherwise it must stay byte for byte.
		wantImportAdded bool
		// dumpChecks are values the real containerd's merged config must
		// still have (the user's settings), by TOML path.
		dumpChecks map[string]any
	}{
		{
			name: "containerd 1.6 (version 2, no imports)", fixture: "containerd-1.6", version: 2, wantImportAdded: true,
			dumpChecks: map[string]any{
				"plugins/io.containerd.grpc.v1.cri/sandbox_image":                                  "registry.k8s.io/pause:3.9",
				"plugins/io.containerd.grpc.v1.cri/containerd/runtimes/runc/options/SystemdCgroup": true,
				"plugins/io.containerd.grpc.v1.cri/cni/bin_dir":                                    "/usr/lib/cni",
			},
		},
		{
			name: "containerd 1.7 (version 2, conf.d imported)", fixture: "containerd-1.7", version: 2,
			dumpChecks: map[string]any{
				"plugins/io.containerd.grpc.v1.cri/sandbox_image":                                  "registry.k8s.io/pause:3.10",
				"plugins/io.containerd.grpc.v1.cri/containerd/runtimes/runc/options/SystemdCgroup": true,
				"plugins/io.containerd.grpc.v1.cri/registry/config_path":                           "/etc/containerd/certs.d",
				"metrics/address": "127.0.0.1:1338",
			},
		},
		{
			name: "containerd 2.x (version 3, conf.d imported)", fixture: "containerd-2.0", version: 3,
			dumpChecks: map[string]any{
				"plugins/io.containerd.cri.v1.runtime/containerd/runtimes/runc/options/SystemdCgroup": true,
				"plugins/io.containerd.cri.v1.images/registry/config_path":                            "/etc/containerd/certs.d",
			},
		},
		{name: "no config.toml", fixture: "", version: 2, wantImportAdded: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			env := newEnv(t, tc.fixture)
			before := snapshot(t, env.root)
			cfgPath := filepath.Join(env.root, DefaultContainerdConfig)
			origConfig, _ := os.ReadFile(cfgPath)

			res, err := env.installer(t, nil).Install(ctx)
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if diff := cmp.Diff(allHandlers, res.Handlers); diff != "" {
				t.Errorf("handlers (-want,+got):\n%s", diff)
			}
			if got := env.restarter.n(); got != 1 {
				t.Errorf("containerd restarts after install = %d, want 1", got)
			}
			// The install dir holds exactly the artifacts.
			if diff := cmp.Diff(snapshot(t, artifactsFixture), snapshot(t, filepath.Join(env.root, "opt/kata"))); diff != "" {
				t.Errorf("install dir vs artifacts (-want,+got):\n%s", diff)
			}
			// One runtime per handler, in the plugin of this config version.
			got := table(readTOML(t, filepath.Join(env.root, dropIn)), "plugins", criPlugin(tc.version), "containerd", "runtimes")
			for _, h := range allHandlers {
				if diff := cmp.Diff(wantRuntime(strings.TrimPrefix(h, "kata-")), got[h]); diff != "" {
					t.Errorf("drop-in runtime %s (-want,+got):\n%s", h, diff)
				}
			}
			newConfig, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantImportAdded {
				doc := readTOML(t, cfgPath)
				imports, _ := stringList(cfgPath, "imports", doc["imports"])
				if !slices.Contains(imports, dropIn) {
					t.Errorf("config.toml imports = %q, want it to contain %s", imports, dropIn)
				}
				// Nothing but imports (and a version for a new file) changed.
				old := map[string]any{}
				if origConfig != nil {
					old, _ = parseTOML(cfgPath, origConfig)
				}
				delete(doc, "imports")
				if origConfig == nil {
					delete(doc, "version")
				}
				if diff := cmp.Diff(old, doc); diff != "" {
					t.Errorf("config.toml changed beyond imports (-want,+got):\n%s", diff)
				}
			} else if diff := cmp.Diff(string(origConfig), string(newConfig)); diff != "" {
				t.Errorf("config.toml changed although containerd already imports conf.d (-want,+got):\n%s", diff)
			}
			wantLabels := map[string]string{
				"kubernetes.io/hostname":      "n1",
				wellknown.LabelSandboxRuntime: "true",
				wellknown.LabelKataRuntime:    "true",
			}
			for _, h := range allHandlers {
				wantLabels[wellknown.LabelRuntimePrefix+h] = "true"
			}
			if diff := cmp.Diff(wantLabels, env.node.Labels); diff != "" {
				t.Errorf("labels (-want,+got):\n%s", diff)
			}
			if len(env.node.Taints) != 0 {
				t.Errorf("taints = %v, want the startup taint removed", env.node.Taints)
			}
			wantReasons := []string{"KataInstalling", "KataArtifactsInstalled", "ContainerdDropInWritten", "ContainerdRestarted", "KataInstalled"}
			if tc.wantImportAdded {
				wantReasons = []string{"KataInstalling", "KataArtifactsInstalled", "ContainerdDropInWritten", "ContainerdConfigImportAdded", "ContainerdRestarted", "KataInstalled"}
				if origConfig != nil {
					wantReasons = slices.Insert(wantReasons, 1, "ContainerdConfigBackedUp")
				}
			}
			if diff := cmp.Diff(wantReasons, eventReasons(env.node)); diff != "" {
				t.Errorf("events (-want,+got):\n%s", diff)
			}

			t.Run("real containerd config dump", func(t *testing.T) {
				bin := realContainerd(t, tc.version)
				doc, err := fixtureDump(env.root, bin).DumpConfig(ctx)
				if err != nil {
					t.Fatalf("containerd could not load the installed config: %v", err)
				}
				runtimes := table(doc, "plugins", criPlugin(tc.version), "containerd", "runtimes")
				for _, h := range allHandlers {
					rt, _ := runtimes[h].(map[string]any)
					want := wantRuntime(strings.TrimPrefix(h, "kata-"))
					for _, k := range []string{"runtime_type", "runtime_path", "privileged_without_host_devices", "pod_annotations"} {
						if diff := cmp.Diff(want[k], rt[k]); diff != "" {
							t.Errorf("containerd's merged %s.%s (-want,+got):\n%s", h, k, diff)
						}
					}
					if diff := cmp.Diff(want["options"], rt["options"]); diff != "" {
						t.Errorf("containerd's merged %s.options (-want,+got):\n%s", h, diff)
					}
				}
				for p, want := range tc.dumpChecks {
					keys := strings.Split(p, "/")
					got := table(doc, keys[:len(keys)-1]...)[keys[len(keys)-1]]
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("the user's setting %s in containerd's merged config (-want,+got):\n%s", p, diff)
					}
				}
			})

			// Reinstall: nothing written, no restart, no node update.
			ops := &faultOps{Ops: OSOps{}}
			updates := env.node.Updates
			res, err = env.installer(t, ops).Install(ctx)
			if err != nil {
				t.Fatalf("reinstall: %v", err)
			}
			if len(res.Changed) != 0 || res.Restarted || ops.n != 0 || env.restarter.n() != 1 || env.node.Updates != updates {
				t.Errorf("reinstall changed something: changed=%v restarted=%v fileOps=%v restarts=%d nodeUpdates=%d->%d",
					res.Changed, res.Restarted, ops.log, env.restarter.n(), updates, env.node.Updates)
			}

			// Uninstall: the host is back byte for byte.
			res, err = env.installer(t, nil).Uninstall(ctx)
			if err != nil {
				t.Fatalf("Uninstall: %v", err)
			}
			if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
				t.Errorf("host after uninstall vs before install (-want,+got):\n%s", diff)
			}
			for _, p := range []string{"opt/kata", "etc/containerd/conf.d/mtscn-kata.toml", strings.TrimPrefix(DefaultStateDir, "/")} {
				if _, err := os.Lstat(filepath.Join(env.root, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still exists after uninstall (err=%v)", p, err)
				}
			}
			if got := env.restarter.n(); got != 2 {
				t.Errorf("containerd restarts after uninstall = %d, want 2", got)
			}
			if diff := cmp.Diff(map[string]string{"kubernetes.io/hostname": "n1"}, env.node.Labels); diff != "" {
				t.Errorf("labels after uninstall (-want,+got):\n%s", diff)
			}

			// Uninstall twice: nothing to do.
			ops = &faultOps{Ops: OSOps{}}
			updates = env.node.Updates
			res, err = env.installer(t, ops).Uninstall(ctx)
			if err != nil {
				t.Fatalf("second uninstall: %v", err)
			}
			if len(res.Changed) != 0 || res.Restarted || ops.n != 0 || env.node.Updates != updates {
				t.Errorf("second uninstall changed something: changed=%v restarted=%v fileOps=%v nodeUpdates=%d->%d",
					res.Changed, res.Restarted, ops.log, updates, env.node.Updates)
			}
		})
	}
}

func TestInstallKeepsHandMadeKataRuntime(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "handmade")
	before := snapshot(t, env.root)
	res, err := env.installer(t, nil).Install(ctx)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if diff := cmp.Diff([]string{"kata-qemu"}, res.UserHandlers); diff != "" {
		t.Errorf("user handlers (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"kata-clh", "kata-qemu-runtime-rs"}, res.Handlers); diff != "" {
		t.Errorf("installed handlers (-want,+got):\n%s", diff)
	}
	userEntry := map[string]any{
		"runtime_type":                    "io.containerd.kata.v2",
		"privileged_without_host_devices": true,
		"options":                         map[string]any{"ConfigPath": "/etc/kata-containers/my-qemu.toml"},
	}
	got := table(readTOML(t, filepath.Join(env.root, DefaultDropIn)), "plugins", PluginCRIv2, "containerd", "runtimes", "kata-qemu")
	if diff := cmp.Diff(userEntry, got); diff != "" {
		t.Errorf("the user's kata-qemu in the drop-in (-want,+got):\n%s", diff)
	}
	if _, ok := env.node.Labels[wellknown.LabelRuntimePrefix+"kata-qemu"]; ok {
		t.Errorf("labelled %s although the user's runtime was kept, not installed", wellknown.LabelRuntimePrefix+"kata-qemu")
	}
	t.Run("real containerd config dump", func(t *testing.T) {
		bin := realContainerd(t, 2)
		runtimes, err := fixtureDump(env.root, bin).Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rt, _ := runtimes["kata-qemu"].(map[string]any)
		for k, want := range userEntry {
			if diff := cmp.Diff(want, rt[k]); diff != "" {
				t.Errorf("containerd's kata-qemu.%s (-want,+got):\n%s", k, diff)
			}
		}
		for _, h := range res.Handlers {
			if _, ok := runtimes[h]; !ok {
				t.Errorf("containerd does not list %s", h)
			}
		}
	})
	if _, err := env.installer(t, nil).Uninstall(ctx); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
		t.Errorf("host after uninstall (-want,+got):\n%s", diff)
	}
}

func TestInstallRefusesUnparsableConfig(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "unparsable")
	before := snapshot(t, env.root)
	ops := &faultOps{Ops: OSOps{}}
	_, err := env.installer(t, ops).Install(ctx)
	cfg := filepath.Join(env.root, DefaultContainerdConfig)
	if err == nil || !strings.Contains(err.Error(), cfg+" is not valid TOML (line 3") {
		t.Fatalf("Install error = %v, want one naming %s and the line", err, cfg)
	}
	if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
		t.Errorf("host changed (-want,+got):\n%s", diff)
	}
	if ops.n != 0 || env.restarter.n() != 0 {
		t.Errorf("file operations %v and %d restarts, want none", ops.log, env.restarter.n())
	}
	want := map[string]string{"kubernetes.io/hostname": "n1", wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeFailed, wellknown.LabelKataRuntime: "false"}
	if diff := cmp.Diff(want, env.node.Labels); diff != "" {
		t.Errorf("labels (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]v1.Taint{startupTaint}, env.node.Taints, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("taints (-want,+got):\n%s", diff)
	}
	if len(env.node.Events) != 1 || !strings.HasPrefix(env.node.Events[0], "Warning KataInstallFailed: ") {
		t.Errorf("events = %q, want one Warning KataInstallFailed", env.node.Events)
	}
}

// A drop-in sorted after ours that replaces the whole CRI section (what
// containerd 1.x does with imports) hides our runtimes: the real containerd
// shows it, and the install must fail instead of labelling the node.
func TestInstallFailsWhenContainerdDoesNotListHandlers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	bin := realContainerd(t, 2)
	env := newEnv(t, "containerd-1.7")
	override := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.10\"\n"
	if err := os.WriteFile(filepath.Join(env.root, "etc/containerd/conf.d/zz-override.toml"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	env.verifier = fixtureDump(env.root, bin)
	_, err := env.installer(t, nil).Install(ctx)
	if err == nil || !strings.Contains(err.Error(), "lacks Kata runtimes kata-clh, kata-qemu, kata-qemu-runtime-rs") {
		t.Fatalf("Install error = %v, want the missing runtimes named", err)
	}
	if got := env.node.Labels[wellknown.LabelSandboxRuntime]; got != wellknown.SandboxRuntimeFailed {
		t.Errorf("%s = %q, want %q", wellknown.LabelSandboxRuntime, got, wellknown.SandboxRuntimeFailed)
	}
	if len(env.node.Taints) != 1 {
		t.Errorf("taints = %v, want the startup taint kept", env.node.Taints)
	}
	// Without the override the same host installs and verifies.
	if err := os.Remove(filepath.Join(env.root, "etc/containerd/conf.d/zz-override.toml")); err != nil {
		t.Fatal(err)
	}
	if _, err := env.installer(t, nil).Install(ctx); err != nil {
		t.Fatalf("Install without the override: %v", err)
	}
	if got := env.node.Labels[wellknown.LabelSandboxRuntime]; got != wellknown.SandboxRuntimeTrue {
		t.Errorf("%s = %q, want %q", wellknown.LabelSandboxRuntime, got, wellknown.SandboxRuntimeTrue)
	}
}

func TestUninstallKeepsLaterUserEdit(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	if _, err := env.installer(t, nil).Install(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(env.root, DefaultContainerdConfig)
	doc := readTOML(t, cfg)
	doc["oom_score"] = int64(-999)
	b, err := marshalTOML(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := env.installer(t, nil).Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	got := readTOML(t, cfg)
	if got["oom_score"] != int64(-999) {
		t.Errorf("the user's oom_score edit was lost: %v", got["oom_score"])
	}
	if got["imports"] != nil {
		t.Errorf("imports = %v, want our entry removed", got["imports"])
	}
	if !slices.ContainsFunc(env.node.Events, func(e string) bool { return strings.HasPrefix(e, "Warning ContainerdConfigEdited") }) {
		t.Errorf("events = %q, want a ContainerdConfigEdited warning", env.node.Events)
	}
}

// A running shim binary is replaced by a rename, never rewritten: no
// "text file busy", and the running process keeps going.
func TestReinstallWhileShimRuns(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary to stand in for a running shim")
	}
	artifacts := tempDir(t)
	copyTree(t, artifactsFixture, artifacts)
	shim := filepath.Join(artifacts, goShimBinary)
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shim, b, 0o755); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, "containerd-1.6")
	// On disk rather than tmpfs, which may be mounted noexec.
	env.root = t.TempDir()
	copyTree(t, "testdata/hosts/containerd-1.6", env.root)
	withArtifacts := func(o *Options) { o.ArtifactsDir = artifacts }
	if _, err := env.installer(t, nil, withArtifacts).Install(ctx); err != nil {
		t.Fatal(err)
	}
	running := exec.Command(filepath.Join(env.root, "opt/kata", goShimBinary), "60")
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- running.Wait() }()
	t.Cleanup(func() { _ = running.Process.Kill(); <-done })

	// A new release of the shim (the old bytes plus a trailer).
	if err := os.WriteFile(shim, append(b, []byte("new release")...), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := env.installer(t, nil, withArtifacts).Install(ctx)
	if err != nil {
		t.Fatalf("reinstall with the shim running: %v", err)
	}
	if diff := cmp.Diff([]string{"/opt/kata"}, res.Changed); diff != "" {
		t.Errorf("changed (-want,+got):\n%s", diff)
	}
	got, err := os.ReadFile(filepath.Join(env.root, "opt/kata", goShimBinary))
	if err != nil || !strings.HasSuffix(string(got), "new release") {
		t.Errorf("the installed shim is not the new release (err=%v)", err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		t.Errorf("the running shim exited during the reinstall: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{name: "defaults", mutate: func(*Options) {}},
		{name: "relative install dir", mutate: func(o *Options) { o.InstallDir = "opt/kata" }, wantErr: `--install-dir="opt/kata": must be an absolute path`},
		{name: "install dir is /", mutate: func(o *Options) { o.InstallDir = "/" }, wantErr: `--install-dir="/": must not be /`},
		{name: "drop-in not .toml", mutate: func(o *Options) { o.DropIn = "/etc/containerd/conf.d/kata" }, wantErr: `--drop-in="/etc/containerd/conf.d/kata": must end in .toml`},
		{name: "bad shim", mutate: func(o *Options) { o.Shims = []string{"Qemu"} }, wantErr: `--shims: "Qemu" is not a shim name`},
		{name: "bad version", mutate: func(o *Options) { o.ConfigVersion = 1 }, wantErr: `--containerd-config-version=1: must be 2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{}
			o.SetDefaults()
			tc.mutate(&o)
			err := o.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.wantErr == "" && got != "" || !strings.HasPrefix(got, tc.wantErr) {
				t.Errorf("Validate() = %q, want prefix %q", got, tc.wantErr)
			}
		})
	}
}

func TestShimsFlag(t *testing.T) {
	env := newEnv(t, "containerd-1.6")
	in := env.installer(t, nil, func(o *Options) { o.Shims = []string{"clh"} })
	shims, err := in.discoverShims()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"kata-clh"}, []string{shims[0].Handler()}); diff != "" || len(shims) != 1 {
		t.Errorf("shims (-want,+got):\n%s", diff)
	}
	in = env.installer(t, nil, func(o *Options) { o.Shims = []string{"fc"} })
	if _, err := in.discoverShims(); err == nil || !strings.Contains(err.Error(), `have no configuration-fc.toml; remove "fc" from --shims`) {
		t.Errorf("discoverShims with a missing shim = %v", err)
	}
	_, ctx := ktesting.NewTestContext(t)
	if _, err := in.Install(ctx); err == nil {
		t.Error("Install with a missing shim succeeded")
	}
	_ = context.Background
}
