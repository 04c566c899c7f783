package install

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

const artifactsFixture = "testdata/artifacts"

// copyTree copies a fixture (files, dirs, symlinks, modes) to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

// tempDir is t.TempDir on tmpfs when there is one: the crash test builds
// hundreds of small trees, and on a busy disk that is I/O-bound.
func tempDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "mtscn-install-test-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// newHost copies a fixture host into a temp dir and returns its root.
func newHost(t testing.TB, fixture string) string {
	t.Helper()
	root := tempDir(t)
	if fixture != "" {
		copyTree(t, filepath.Join("testdata/hosts", fixture), root)
	}
	return root
}

// snapshot describes every file and symlink under root: path -> mode and
// content hash (or link target). Directories are left out.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			link, _ := os.Readlink(p)
			out[rel] = "symlink -> " + link
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%v %x", info.Mode().Perm(), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", root, err)
	}
	return out
}

// countingRestarter counts restarts.
type countingRestarter struct {
	mu    sync.Mutex
	count int
	units []string
}

func (r *countingRestarter) Restart(_ context.Context, unit string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	r.units = append(r.units, unit)
	return nil
}

func (r *countingRestarter) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// recordingVerifier counts the checks and does not check (like
// --verify=none); it finds no running sandbox.
type recordingVerifier struct{ calls int }

func (v *recordingVerifier) Runtimes(context.Context) (map[string]string, error) {
	v.calls++
	return nil, nil
}

func (v *recordingVerifier) RunningSandboxes(context.Context, []string) ([]string, error) {
	return nil, nil
}

var errCrash = errors.New("injected crash")

// faultOps counts the mutating operations and, from the failAt-th one on
// (1-based; 0 = never), fails them without doing anything, as if the
// process had died after the previous one.
type faultOps struct {
	Ops
	failAt int
	n      int
	log    []string
}

func (f *faultOps) step(op string, paths ...string) error {
	f.n++
	if f.failAt > 0 && f.n >= f.failAt {
		return fmt.Errorf("%s %s: %w", op, strings.Join(paths, " "), errCrash)
	}
	f.log = append(f.log, op+" "+strings.Join(paths, " "))
	return nil
}

func (f *faultOps) MkdirAll(p string, perm fs.FileMode) error {
	if err := f.step("mkdir", p); err != nil {
		return err
	}
	return f.Ops.MkdirAll(p, perm)
}

func (f *faultOps) CreateFile(p string, r io.Reader, perm fs.FileMode) error {
	if err := f.step("create", p); err != nil {
		return err
	}
	return f.Ops.CreateFile(p, r, perm)
}

func (f *faultOps) Symlink(o, n string) error {
	if err := f.step("symlink", n); err != nil {
		return err
	}
	return f.Ops.Symlink(o, n)
}

func (f *faultOps) Rename(o, n string) error {
	if err := f.step("rename", o, n); err != nil {
		return err
	}
	return f.Ops.Rename(o, n)
}

func (f *faultOps) Exchange(a, b string) error {
	if err := f.step("exchange", a, b); err != nil {
		return err
	}
	return f.Ops.Exchange(a, b)
}

func (f *faultOps) Remove(p string) error {
	if err := f.step("remove", p); err != nil {
		return err
	}
	return f.Ops.Remove(p)
}

func (f *faultOps) RemoveAll(p string) error {
	if err := f.step("removeall", p); err != nil {
		return err
	}
	return f.Ops.RemoveAll(p)
}

// startupTaint is the taint a node registers with.
var startupTaint = v1.Taint{Key: wellknown.TaintSandboxNotReady, Effect: v1.TaintEffectNoSchedule}

type testEnv struct {
	root      string
	node      *MemoryNode
	restarter *countingRestarter
	verifier  Verifier
	lister    SandboxLister
}

func newEnv(t testing.TB, fixture string) *testEnv {
	root := newHost(t, fixture)
	return &testEnv{
		root:      root,
		node:      &MemoryNode{Labels: map[string]string{"kubernetes.io/hostname": "n1"}, Taints: []v1.Taint{startupTaint}, Discovery: playDiscovery(root, "")},
		restarter: &countingRestarter{},
		verifier:  &recordingVerifier{},
		lister:    &recordingVerifier{},
	}
}

func (e *testEnv) installer(t testing.TB, ops Ops, mutate ...func(*Options)) *Installer {
	t.Helper()
	if ops == nil {
		ops = OSOps{}
	}
	o := Options{HostRoot: e.root, ArtifactsDir: mustAbs(t, artifactsFixture)}
	for _, m := range mutate {
		m(&o)
	}
	if o.ContainerdConfig != "" {
		e.node.Discovery = playDiscovery(e.root, o.ContainerdConfig)
	}
	opts := []Option{WithOps(ops), WithNode(e.node), WithRestarter(e.restarter), WithVerifier(e.verifier), WithPollInterval(time.Millisecond)}
	if e.lister != nil {
		opts = append(opts, WithSandboxLister(e.lister))
	}
	in, err := New(o, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return in
}

// playDiscovery plays mtscn-node's discovery on a fixture host each time
// the installer reads its node: the real kata source (containerd's config
// chain and the installer's withdrawal note; the CRI is not asked) sets
// mtscn.io/runtime.<handler>=true for each sandbox handler it reports and
// removes the others, as nfd-rules/runtimes.yaml does through nfd-master.
func playDiscovery(root, config string) func(map[string]string) {
	return func(labels map[string]string) {
		res := discover.Discover(context.Background(), discover.Options{
			HostRoot: root, ContainerdConfig: config, Sources: []string{discover.SourceKata}, CRISocket: "none",
		})
		want := map[string]bool{}
		if res.Kata != nil {
			for _, h := range res.Kata.Handlers {
				if h.Sandbox != "" && !h.Withdrawn {
					want[wellknown.RuntimeLabel(h.Name)] = true
				}
			}
		}
		for k := range labels {
			if strings.HasPrefix(k, wellknown.LabelRuntimePrefix) && !want[k] {
				delete(labels, k)
			}
		}
		for k := range want {
			labels[k] = wellknown.ValueTrue
		}
	}
}

func mustAbs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// realContainerd returns the path of a real containerd that reads the
// given config version, or skips the test with the reason. Version 3
// configs need containerd 2.x: `containerd2` (built from the containerd
// module by hack/containerd2.sh; make puts bin/ on PATH) is preferred, then
// a `containerd` of major version 2.
func realContainerd(t testing.TB, configVersion int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the real `containerd config dump` check bind-mounts the fixture over /etc/containerd in a private mount namespace, which needs root")
	}
	if _, err := os.Stat("/etc/containerd"); err != nil {
		t.Skip("/etc/containerd does not exist to bind-mount the fixture over; install containerd's package (bash hack/install-containerd.sh)")
	}
	candidates := []string{"containerd"}
	if configVersion >= 3 {
		candidates = []string{"containerd2", "containerd"}
	}
	var seen []string
	for _, name := range candidates {
		bin, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", bin, err)
		}
		m := regexp.MustCompile(` v?(\d+)\.(\d+)\.`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("cannot read containerd's version from %q", out)
		}
		if major, _ := strconv.Atoi(m[1]); configVersion >= 3 && major < 2 {
			seen = append(seen, strings.TrimSpace(string(out)))
			continue
		}
		return bin
	}
	if configVersion >= 3 {
		t.Skipf("no containerd 2.x to read a version 3 config (found: %v); build one with `bash hack/containerd2.sh` (make test does)", seen)
	}
	t.Skip("containerd is not installed, so the real `containerd config dump` check cannot run; install it with `bash hack/install-containerd.sh` (CI does)")
	return ""
}

// fixtureDump is a DumpVerifier that runs the real containerd binary bin on
// a fixture host: a private mount namespace with the fixture's
// /etc/containerd bound over /etc/containerd, so that absolute imports
// resolve inside the fixture.
func fixtureDump(root, bin string) DumpVerifier {
	script := `mount --bind "$1/etc/containerd" /etc/containerd && bin=$2 && shift 2 && exec "$bin" "$@"`
	return DumpVerifier{
		Command: []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, bin},
		Config:  DefaultContainerdConfig,
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readTOML(t testing.TB, p string) map[string]any {
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
