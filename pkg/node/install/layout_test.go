package install

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/mtscn/mtscn/pkg/node/containerd"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

const gvisorArtifactsFixture = "testdata/artifacts-gvisor"

// dumpAt reads one value of the real containerd's merged config.
func dumpAt(t *testing.T, d DumpVerifier, keys ...string) any {
	t.Helper()
	doc, err := d.DumpConfig(context.Background())
	if err != nil {
		t.Fatalf("containerd config dump: %v", err)
	}
	var cur any = doc
	for _, k := range keys {
		m, _ := cur.(map[string]any)
		cur = m[k]
	}
	return cur
}

type layoutCase struct {
	name    string
	fixture string
	major   int
	cri     string
	// userKey is a CRI setting of the user's that must survive, and be
	// editable after the install (item 4): path below the CRI plugin
	// table holding sandbox_image (1.x) or the runtime plugin's key.
	userKey []string
	userVal any
}

var layoutCases = []layoutCase{
	{"debian 1.6 default (runc only built in)", "debian-1.6", 1, containerd.PluginCRIv2, []string{"cni", "bin_dir"}, "/usr/lib/cni"},
	{"kubeadm 1.6", "containerd-1.6", 1, containerd.PluginCRIv2, []string{"sandbox_image"}, "registry.k8s.io/pause:3.9"},
	{"1.7 importing conf.d", "containerd-1.7", 1, containerd.PluginCRIv2, []string{"sandbox_image"}, "registry.k8s.io/pause:3.10"},
	{"no config.toml, 1.x", "", 1, containerd.PluginCRIv2, nil, nil},
	{"2.x importing conf.d", "containerd-2.0", 2, containerd.PluginCRIv3, []string{"enable_cdi"}, true},
	{"no config.toml, 2.x", "", 2, containerd.PluginCRIv3, nil, nil},
	// Issue 14 item 8: relative import globs as each version resolves them.
	{"1.7 relative conf.d glob", "containerd-1.7-relative", 1, containerd.PluginCRIv2, []string{"sandbox_image"}, "registry.k8s.io/pause:3.10"},
	{"2.x relative conf.d glob", "containerd-2.0-relative", 2, containerd.PluginCRIv3, []string{"enable_cdi"}, true},
}

var sandboxCases = []struct {
	name    string
	mutate  func(*Options)
	handler string
	typ     string
}{
	{"kata", func(o *Options) { o.Shims = []string{"qemu"} }, "kata-qemu", "io.containerd.kata-qemu.v2"},
	{"gvisor shim", func(o *Options) { o.Sandboxes = []string{SandboxGVisor} }, "runsc", "io.containerd.runsc.v1"},
	{"gvisor runc", func(o *Options) { o.Sandboxes = []string{SandboxGVisor}; o.GVisorShim = GVisorShimRunc }, "runsc", "io.containerd.runc.v2"},
}

// TestLayoutsWithRealConfigDump installs every sandbox layout on every host
// layout, with the real `containerd config dump` of containerd 1.6 and
// 2.2 as the verifier: containerd still serves runc and every other
// runtime it served before (issue 14 item 1), the user's CRI settings stay
// in the user's file, so an edit after the install takes effect (item 4),
// and uninstall restores the host byte for byte.
func TestLayoutsWithRealConfigDump(t *testing.T) {
	for _, lc := range layoutCases {
		for _, sc := range sandboxCases {
			t.Run(lc.name+"/"+sc.name, func(t *testing.T) {
				version := 2
				if lc.major == 2 {
					version = 3
				}
				bin := realContainerd(t, version)
				_, ctx := ktesting.NewTestContext(t)
				env := newEnv(t, lc.fixture)
				if err := os.MkdirAll(filepath.Join(env.root, "etc/containerd"), 0o755); err != nil {
					t.Fatal(err)
				}
				dump := fixtureDump(env.root, bin)
				env.verifier = dump
				before := snapshot(t, env.root)
				// Without a config file containerd runs on its defaults
				// (config dump refuses a missing --config).
				runtimesOf := func() map[string]string {
					if _, err := os.Stat(filepath.Join(env.root, DefaultContainerdConfig)); os.IsNotExist(err) {
						return map[string]string{"runc": runcShimType}
					}
					rt, err := dump.Runtimes(ctx)
					if err != nil {
						t.Fatal(err)
					}
					return rt
				}
				served := runtimesOf()
				if _, ok := served["runc"]; !ok {
					t.Fatalf("containerd serves no runc before the install: %v", served)
				}
				opts := func(o *Options) {
					o.GVisorArtifacts = mustAbs(t, gvisorArtifactsFixture)
					o.ContainerdMajor = lc.major
					sc.mutate(o)
				}
				res, err := env.installer(t, nil, opts).Install(ctx)
				if err != nil {
					t.Fatalf("Install: %v", err)
				}
				if !slices.Contains(res.Kept, "runc") {
					t.Errorf("kept runtimes %v lack runc", res.Kept)
				}
				after, err := dump.Runtimes(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for h := range served {
					if _, ok := after[h]; !ok {
						t.Errorf("containerd lost runtime %s (served before the install): serves %v", h, sortedKeys(after))
					}
				}
				if after[sc.handler] != sc.typ {
					t.Errorf("%s served with runtime_type %q, want %q", sc.handler, after[sc.handler], sc.typ)
				}
				if got := dumpAt(t, dump, "plugins", lc.cri, "containerd", "default_runtime_name"); got != "runc" {
					t.Errorf("default_runtime_name = %v", got)
				}
				if lc.userKey != nil {
					if got := dumpAt(t, dump, append([]string{"plugins", lc.cri}, lc.userKey...)...); !cmp.Equal(got, lc.userVal) {
						t.Errorf("user setting %v = %v after install, want %v", lc.userKey, got, lc.userVal)
					}
				}
				if env.node.Labels[wellknown.LabelRuntimePrefix+sc.handler] != "true" || len(env.node.Taints) != 0 {
					t.Errorf("labels %v taints %v, want ready", env.node.Labels, env.node.Taints)
				}
				// No drop-in on 1.x (it would freeze the CRI table).
				_, err = os.Stat(filepath.Join(env.root, DefaultDropIn))
				if (lc.major == 1) != os.IsNotExist(err) {
					t.Errorf("drop-in exists=%v on containerd %d.x", err == nil, lc.major)
				}

				// Item 4: an edit of the user's CRI settings after the
				// install takes effect.
				if lc.major == 1 && lc.fixture != "" {
					cfg := filepath.Join(env.root, DefaultContainerdConfig)
					doc := readTOML(t, cfg)
					containerd.EnsureTable(doc, "plugins", lc.cri)["sandbox_image"] = "registry.example/pause:edited"
					b, _ := containerd.Marshal(doc)
					if err := os.WriteFile(cfg, b, 0o644); err != nil {
						t.Fatal(err)
					}
					if got := dumpAt(t, dump, "plugins", lc.cri, "sandbox_image"); got != "registry.example/pause:edited" {
						t.Errorf("sandbox_image edited in config.toml after the install: containerd runs with %v", got)
					}
					if err := os.WriteFile(cfg, readFile(t, cfg, b), 0o644); err != nil {
						t.Fatal(err)
					}
				}

				if _, err := env.installer(t, nil, opts).Uninstall(ctx); err != nil {
					t.Fatalf("Uninstall: %v", err)
				}
				if lc.major == 1 && lc.fixture != "" {
					// The edit above was made by hand: it is kept, and
					// containerd serves runc again.
					if !strings.Contains(string(readFile(t, filepath.Join(env.root, DefaultContainerdConfig), nil)), "pause:edited") {
						t.Errorf("uninstall dropped the admin's edit")
					}
				} else if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
					t.Errorf("host after uninstall vs before install (-want,+got):\n%s", diff)
				}
				gone := runtimesOf()
				if diff := cmp.Diff(sortedKeys(served), sortedKeys(gone)); diff != "" {
					t.Errorf("runtimes after uninstall vs before install (-want,+got):\n%s", diff)
				}
			})
		}
	}
}

func readFile(t *testing.T, p string, def []byte) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return def
	}
	return b
}

// TestUninstallRestoresByteForByte: install and uninstall without edits
// restore every file of each host exactly (item 3's base case), and a
// second uninstall does nothing.
func TestUninstallRestoresByteForByte(t *testing.T) {
	for _, lc := range layoutCases {
		t.Run(lc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			env := newEnv(t, lc.fixture)
			before := snapshot(t, env.root)
			opts := func(o *Options) {
				o.ContainerdMajor = lc.major
				o.Sandboxes = []string{SandboxKata, SandboxGVisor}
				o.GVisorArtifacts = mustAbs(t, gvisorArtifactsFixture)
			}
			if _, err := env.installer(t, nil, opts).Install(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := env.installer(t, nil, opts).Install(ctx)
			if err != nil || len(res.Changed) > 0 || res.Restarted {
				t.Errorf("reinstall: changed %v restarted %v err %v, want nothing", res.Changed, res.Restarted, err)
			}
			if _, err := env.installer(t, nil, opts).Uninstall(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
				t.Errorf("host after uninstall (-want,+got):\n%s", diff)
			}
			n := env.restarter.n()
			res, err = env.installer(t, nil, opts).Uninstall(ctx)
			if err != nil || len(res.Changed) > 0 || env.restarter.n() != n {
				t.Errorf("second uninstall: %v %v", res.Changed, err)
			}
		})
	}
}

// TestAdminEditsSurviveUpgradeAndUninstall is issue 14 item 3: an edit made
// after the install survives a reinstall that changes the runtimes (an
// upgrade) and the uninstall.
func TestAdminEditsSurviveUpgradeAndUninstall(t *testing.T) {
	for _, lc := range []layoutCase{layoutCases[1], layoutCases[4]} {
		t.Run(lc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			env := newEnv(t, lc.fixture)
			cfg := filepath.Join(env.root, DefaultContainerdConfig)
			opts := func(o *Options) { o.ContainerdMajor = lc.major; o.Shims = []string{"qemu"} }
			if _, err := env.installer(t, nil, opts).Install(ctx); err != nil {
				t.Fatal(err)
			}
			doc := readTOML(t, cfg)
			containerd.EnsureTable(doc, "plugins", lc.cri)["admin_edit"] = "kept"
			b, _ := containerd.Marshal(doc)
			if err := os.WriteFile(cfg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			upgrade := func(o *Options) { opts(o); o.Shims = []string{"qemu", "clh"} }
			res, err := env.installer(t, nil, upgrade).Install(ctx)
			if err != nil || !res.Restarted {
				t.Fatalf("upgrade: %v restarted=%v", err, res.Restarted)
			}
			if got := containerd.Table(readTOML(t, cfg), "plugins", lc.cri)["admin_edit"]; got != "kept" {
				t.Errorf("after the upgrade admin_edit = %v", got)
			}
			if _, err := env.installer(t, nil, upgrade).Uninstall(ctx); err != nil {
				t.Fatal(err)
			}
			got := readTOML(t, cfg)
			if v := containerd.Table(got, "plugins", lc.cri)["admin_edit"]; v != "kept" {
				t.Errorf("after the uninstall admin_edit = %v, want kept", v)
			}
			for _, h := range []string{"kata-qemu", "kata-clh"} {
				if containerd.Table(got, "plugins", lc.cri, "containerd", "runtimes", h) != nil {
					t.Errorf("uninstall left runtime %s in config.toml", h)
				}
			}
			if imps, _ := containerd.StringList(cfg, "imports", got["imports"]); slices.Contains(imps, DefaultDropIn) {
				t.Errorf("uninstall left the drop-in import: %v", imps)
			}
			if _, err := os.Stat(filepath.Join(env.root, DefaultDropIn)); !os.IsNotExist(err) {
				t.Errorf("drop-in left: %v", err)
			}
		})
	}
}

// TestModesOwnersAndSecrets is issue 14 item 5: a 0600 config.toml owned by
// another user keeps its mode and owner through install and uninstall,
// registry credentials are not copied to a new file, and the backup is
// 0600.
func TestModesOwnersAndSecrets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	for _, lc := range []layoutCase{layoutCases[1], layoutCases[4]} {
		t.Run(lc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			env := newEnv(t, lc.fixture)
			cfg := filepath.Join(env.root, DefaultContainerdConfig)
			secret := "\n[plugins.\"" + lc.cri + "\".registry.configs.\"registry.example\".auth]\n  password = \"s3cret\"\n"
			if lc.major == 2 {
				secret = "\n[plugins.'io.containerd.cri.v1.images'.registry.configs.'registry.example'.auth]\n  password = 's3cret'\n"
			}
			orig := append(readFile(t, cfg, nil), secret...)
			if err := os.WriteFile(cfg, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(cfg, 1234, 5678); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				fi, err := os.Stat(cfg)
				if err != nil {
					t.Fatal(err)
				}
				uid, gid := fileOwnerIDs(fi)
				if fi.Mode().Perm() != 0o600 || uid != 1234 || gid != 5678 {
					t.Errorf("%s: config.toml mode %v owner %d:%d, want 0600 1234:5678", when, fi.Mode().Perm(), uid, gid)
				}
			}
			opts := func(o *Options) { o.ContainerdMajor = lc.major; o.Shims = []string{"qemu"} }
			if _, err := env.installer(t, nil, opts).Install(ctx); err != nil {
				t.Fatal(err)
			}
			check("after install")
			_ = filepath.WalkDir(env.root, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || p == cfg {
					return err
				}
				b, _ := os.ReadFile(p)
				fi, _ := os.Stat(p)
				if bytes.Contains(b, []byte("s3cret")) && fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s (mode %v) holds the registry password", p, fi.Mode().Perm())
				}
				return nil
			})
			if _, err := env.installer(t, nil, opts).Uninstall(ctx); err != nil {
				t.Fatal(err)
			}
			check("after uninstall")
			if !bytes.Equal(readFile(t, cfg, nil), orig) {
				t.Errorf("config.toml not restored byte for byte")
			}
		})
	}
}

// TestRefusesAnotherInstallersDir is issue 14 item 6: an install dir that
// holds another installer's files (kata-deploy's /opt/kata) is neither
// replaced nor deleted.
func TestRefusesAnotherInstallersDir(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	env := newEnv(t, "containerd-1.6")
	foreign := filepath.Join(env.root, "opt/kata/bin/kata-runtime")
	if err := os.MkdirAll(filepath.Dir(foreign), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(foreign, []byte("kata-deploy's"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, env.root)
	opts := func(o *Options) { o.InstallDir = "/opt/kata" }
	_, err := env.installer(t, nil, opts).Install(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not install") {
		t.Fatalf("Install over kata-deploy's /opt/kata = %v, want a refusal", err)
	}
	if _, err := env.installer(t, nil, opts).Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
		t.Errorf("host changed (-want,+got):\n%s", diff)
	}
	// The default install dir is not kata-deploy's.
	if _, err := env.installer(t, nil).Install(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.installer(t, nil).Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, foreign, nil); string(got) != "kata-deploy's" {
		t.Errorf("kata-deploy's file is %q after install+uninstall", got)
	}
}

// TestSymlinkedConfig is issue 14 item 8 (symlinks): a config.toml that is
// a relative or an absolute symlink stays a symlink; the file it points to
// is edited in place and restored byte for byte.
func TestSymlinkedConfig(t *testing.T) {
	for _, link := range []string{"../k8s/containerd.toml", "/etc/k8s/containerd.toml"} {
		for _, major := range []int{1, 2} {
			t.Run(link+"/"+string(rune('0'+major)), func(t *testing.T) {
				_, ctx := ktesting.NewTestContext(t)
				env := newEnv(t, "")
				content := readFile(t, "testdata/hosts/containerd-1.6/etc/containerd/config.toml", nil)
				if major == 2 {
					content = []byte("version = 3\n[plugins.'io.containerd.cri.v1.runtime']\n  enable_cdi = true\n")
				}
				target := filepath.Join(env.root, "etc/k8s/containerd.toml")
				if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(env.root, "etc/containerd"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(target, content, 0o644); err != nil {
					t.Fatal(err)
				}
				cfg := filepath.Join(env.root, DefaultContainerdConfig)
				if err := os.Symlink(link, cfg); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, env.root)
				opts := func(o *Options) { o.ContainerdMajor = major; o.Shims = []string{"qemu"} }
				if _, err := env.installer(t, nil, opts).Install(ctx); err != nil {
					t.Fatal(err)
				}
				if l, err := os.Readlink(cfg); err != nil || l != link {
					t.Errorf("config.toml is no longer the symlink %s: %q %v", link, l, err)
				}
				if bytes.Equal(readFile(t, target, nil), content) {
					t.Errorf("the link's target was not edited")
				}
				if _, err := env.installer(t, nil, opts).Uninstall(ctx); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before, snapshot(t, env.root)); diff != "" {
					t.Errorf("host after uninstall (-want,+got):\n%s", diff)
				}
			})
		}
	}
}
