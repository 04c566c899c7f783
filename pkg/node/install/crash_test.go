package install

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mtscn/mtscn/pkg/node/containerd"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// isLitter reports whether a path is what a crashed run may leave behind and
// the next run cleans up: temp files (containerd never loads them: they are
// hidden and do not end in .toml), the stage and trash directories next to
// the install dir, and the installer's own bookkeeping.
func isLitter(rel string) bool {
	for _, s := range []string{tempSuffix, stageSuffix, trashSuffix, oldSuffix} {
		if strings.Contains(rel, s) {
			return true
		}
	}
	return strings.HasPrefix(rel, strings.TrimPrefix(DefaultStateDir, "/")+"/")
}

// checkOldOrNew asserts that a host where a run stopped after some file
// operation is, file by file and as containerd sees it, either in the state
// before the run (a) or after it (b).
func checkOldOrNew(t *testing.T, root string, a, b map[string]string) {
	t.Helper()
	got := snapshot(t, root)
	paths := map[string]bool{}
	for _, m := range []map[string]string{a, b, got} {
		for p := range m {
			paths[p] = true
		}
	}
	var bad []string
	installDir := map[string]int{} // 0: matches a, 1: matches b, 2: both
	for p := range paths {
		if isLitter(p) {
			continue
		}
		g, inA, inB := got[p], a[p] == got[p], b[p] == got[p]
		if !inA && !inB {
			bad = append(bad, p+" is "+g+", neither old ("+a[p]+") nor new ("+b[p]+")")
			continue
		}
		if strings.HasPrefix(p, "opt/mtscn/kata/") {
			switch {
			case inA && inB:
				installDir[p] = 2
			case inA:
				installDir[p] = 0
			default:
				installDir[p] = 1
			}
		}
	}
	// The install dir is swapped as a whole: never a mix of old and new.
	sawA, sawB := false, false
	for _, v := range installDir {
		sawA = sawA || v == 0
		sawB = sawB || v == 1
	}
	if sawA && sawB {
		bad = append(bad, "the install dir mixes old and new files")
	}
	// Whatever containerd loads parses, and what it imports exists.
	cfg := filepath.Join(root, DefaultContainerdConfig)
	if _, ok := got["etc/containerd/config.toml"]; ok {
		doc := readTOML(t, cfg)
		imports, _ := containerd.StringList(cfg, "imports", doc["imports"])
		for _, imp := range imports {
			if imp == DefaultDropIn && got["etc/containerd/conf.d/mtscn.toml"] == "" {
				bad = append(bad, "config.toml imports the drop-in, which does not exist")
			}
		}
	}
	if got["etc/containerd/conf.d/mtscn.toml"] != "" {
		readTOML(t, filepath.Join(root, DefaultDropIn))
		if got["opt/mtscn/kata/bin/containerd-shim-kata-v2"] == "" {
			bad = append(bad, "the drop-in exists but the shim it names does not")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("host is neither old nor new:\n%s", strings.Join(bad, "\n"))
	}
}

// TestCrashSafety stops install and uninstall after every single file
// operation, checks the host is in the old or the new state, and that the
// next install or uninstall converges from there.
func TestCrashSafety(t *testing.T) {
	// Release 1 of the artifacts, for the upgrade cases: one file differs.
	release1 := tempDir(t)
	copyTree(t, artifactsFixture, release1)
	if err := os.WriteFile(filepath.Join(release1, goConfigDir, "configuration-qemu.toml"), []byte("# release 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, fixture string
		// upgrade: the host already runs release 1 when the install of
		// the fixture's artifacts crashes (the install dir is swapped).
		upgrade bool
	}{
		{name: "containerd 1.6", fixture: "containerd-1.6"},
		{name: "containerd 2.x", fixture: "containerd-2.0"},
		{name: "hand-made kata runtime", fixture: "handmade"},
		{name: "no config.toml", fixture: ""},
		{name: "containerd 1.6 upgrade", fixture: "containerd-1.6", upgrade: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			fast := OSOps{NoSync: true}
			// prepare returns a fresh host in the state before the run.
			prepare := func(t *testing.T) *testEnv {
				env := newEnv(t, tc.fixture)
				if tc.upgrade {
					if _, err := env.installer(t, fast, func(o *Options) { o.ArtifactsDir = release1 }).Install(ctx); err != nil {
						t.Fatal(err)
					}
				}
				return env
			}
			pristine := snapshot(t, newHost(t, tc.fixture))
			ref := prepare(t)
			before := snapshot(t, ref.root)
			if _, err := ref.installer(t, fast).Install(ctx); err != nil {
				t.Fatal(err)
			}
			after := snapshot(t, ref.root)
			installed := ref.node.Labels

			// converge runs a clean install and a clean uninstall, each on
			// its own copy of a crashed host.
			converge := func(t *testing.T, crashed *testEnv) {
				t.Helper()
				for _, action := range []string{"install", "uninstall"} {
					env := newEnv(t, "")
					copyTree(t, crashed.root, env.root)
					env.node.Labels = maps.Clone(crashed.node.Labels)
					env.node.Taints = slices.Clone(crashed.node.Taints)
					in := env.installer(t, fast)
					var err error
					want := pristine
					if action == "install" {
						_, err = in.Install(ctx)
						want = after
					} else {
						_, err = in.Uninstall(ctx)
					}
					if err != nil {
						t.Fatalf("%s after the crash: %v", action, err)
					}
					if diff := cmp.Diff(want, snapshot(t, env.root)); diff != "" {
						t.Errorf("%s after the crash did not converge (-want,+got):\n%s", action, diff)
					}
					wantLabels := installed
					if action == "uninstall" {
						// Only what discovery reports of the pristine
						// host (a hand-made runtime) stays.
						wantLabels = map[string]string{"kubernetes.io/hostname": "n1"}
						playDiscovery(newHost(t, tc.fixture), "")(wantLabels)
					}
					// Discovery's next round.
					if _, _, err := env.node.ReadLabels(ctx); err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(wantLabels, env.node.Labels); diff != "" {
						t.Errorf("labels after converging %s (-want,+got):\n%s", action, diff)
					}
				}
			}

			t.Run("install", func(t *testing.T) {
				for k := 1; ; k++ {
					env := prepare(t)
					env.node.Taints = []v1.Taint{startupTaint}
					ops := &faultOps{Ops: fast, failAt: k}
					_, err := env.installer(t, ops).Install(ctx)
					if err == nil {
						if k == 1 {
							t.Fatal("install did no file operation")
						}
						t.Logf("install: crashed after each of %d file operations", k-1)
						return
					}
					if !errors.Is(err, errCrash) {
						t.Fatalf("crash after %d operations: unexpected error %v", k-1, err)
					}
					if env.node.Labels[wellknown.LabelKataRuntime] != "false" || len(env.node.Taints) != 1 {
						t.Errorf("crash after %d operations: labels %v taints %v, want the node kept out of service", k-1, env.node.Labels, env.node.Taints)
					}
					checkOldOrNew(t, env.root, before, after)
					converge(t, env)
					if t.Failed() {
						t.Fatalf("stopped at the crash after operation %d (%v)", k-1, ops.log)
					}
				}
			})
			if tc.upgrade {
				return
			}
			t.Run("uninstall", func(t *testing.T) {
				for k := 1; ; k++ {
					env := newEnv(t, tc.fixture)
					if _, err := env.installer(t, fast).Install(ctx); err != nil {
						t.Fatal(err)
					}
					ops := &faultOps{Ops: fast, failAt: k}
					_, err := env.installer(t, ops).Uninstall(ctx)
					if err == nil {
						t.Logf("uninstall: crashed after each of %d file operations", k-1)
						return
					}
					if !errors.Is(err, errCrash) {
						t.Fatalf("crash after %d operations: unexpected error %v", k-1, err)
					}
					if env.node.Labels[wellknown.LabelKataRuntime] != "false" {
						t.Errorf("crash after %d operations: labels %v, want the node out of service", k-1, env.node.Labels)
					}
					checkOldOrNew(t, env.root, after, before)
					converge(t, env)
					if t.Failed() {
						t.Fatalf("stopped at the crash after operation %d (%v)", k-1, ops.log)
					}
				}
			})
		})
	}
}
