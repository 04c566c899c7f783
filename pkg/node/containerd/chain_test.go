package containerd

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// realContainerd returns a containerd binary of the given major version or
// skips: Debian's containerd (1.6) for 1, bin/containerd2 (make
// containerd2) for 2.
func realContainerd(t *testing.T, major int) string {
	t.Helper()
	candidates := []string{"containerd"}
	if major == 2 {
		candidates = []string{"containerd2", "../../../bin/containerd2", "containerd"}
	}
	for _, c := range candidates {
		bin, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			continue
		}
		m := regexp.MustCompile(` v?(\d+)\.\d+\.`).FindStringSubmatch(string(out))
		if m != nil {
			if n, _ := strconv.Atoi(m[1]); n == major {
				abs, _ := filepath.Abs(bin)
				return abs
			}
		}
	}
	if major == 2 {
		t.Skip("no containerd 2.x: run `make containerd2` (make test does)")
	}
	t.Skip("no containerd 1.x: install Debian's containerd (bash hack/install-containerd.sh)")
	return ""
}

// dumpRuntimes runs the real `containerd config dump` on the fixture's
// /etc/containerd/config.toml with the fixture root as working directory
// (so containerd 1.x's relative globs resolve as they would under systemd,
// whose working directory is /) and returns the runtimes it lists.
func dumpRuntimes(t *testing.T, bin, root string) ([]string, error) {
	t.Helper()
	cmd := exec.Command(bin, "--config", filepath.Join(root, "etc/containerd/config.toml"), "config", "dump")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(string(out)))
	}
	doc, err := Parse("config dump", out)
	if err != nil {
		t.Fatalf("parsing the dump: %v", err)
	}
	var names []string
	for _, id := range []string{PluginCRIv2, PluginCRIv3} {
		for n := range Table(doc, "plugins", id, "containerd", "runtimes") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "symlink:"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runtime(version int, name string) string {
	plugin := CRIPlugin(version)
	return "[plugins.\"" + plugin + "\".containerd.runtimes." + name + "]\nruntime_type = \"io.containerd." + name + ".v2\"\n"
}

// TestChainMatchesConfigDump reads fixture chains with this package and
// with the real containerd 1.6 and 2.x, and checks that both list the same
// runtimes: relative imports and globs, a symlinked config.toml, a "?"
// that is not a glob, plugin tables replaced (1.x) or merged (2.x).
func TestChainMatchesConfigDump(t *testing.T) {
	type fixture struct {
		name  string
		files func(version int) map[string]string
	}
	fixtures := []fixture{
		{"relative glob", func(v int) map[string]string {
			return map[string]string{
				"etc/containerd/config.toml":       "version = " + strconv.Itoa(v) + "\nimports = [\"conf.d/*.toml\"]\n",
				"etc/containerd/conf.d/kata.toml":  "version = " + strconv.Itoa(v) + "\n" + runtime(v, "kata"),
				"conf.d/runsc.toml":                "version = " + strconv.Itoa(v) + "\n" + runtime(v, "runsc"),
				"etc/containerd/conf.d/notes.conf": "not toml at all [",
			}
		}},
		{"relative path and glob beside a symlinked config.toml", func(v int) map[string]string {
			return map[string]string{
				"etc/containerd/config.toml":    "symlink:../k8s/containerd.toml",
				"etc/k8s/containerd.toml":       "version = " + strconv.Itoa(v) + "\nimports = [\"extra.toml\"]\n",
				"etc/containerd/extra.toml":     "version = " + strconv.Itoa(v) + "\n" + runtime(v, "kata"),
				"etc/k8s/extra.toml":            "version = " + strconv.Itoa(v) + "\n" + runtime(v, "runsc"),
				"etc/containerd/conf.d/x.toml":  "version = " + strconv.Itoa(v) + "\n",
				"etc/k8s/conf.d/unrelated.toml": "version = " + strconv.Itoa(v) + "\n",
			}
		}},
		{"later file's table replaces (1.x) or merges (2.x)", func(v int) map[string]string {
			return map[string]string{
				"etc/containerd/config.toml":  "version = " + strconv.Itoa(v) + "\nimports = [\"a.toml\", \"./b.toml\", \"a.toml\"]\n" + runtime(v, "runc"),
				"etc/containerd/a.toml":       "version = " + strconv.Itoa(v) + "\n" + runtime(v, "kata"),
				"etc/containerd/b.toml":       "version = " + strconv.Itoa(v) + "\nimports = [\"sub/c.toml\"]\n" + runtime(v, "runsc"),
				"etc/containerd/sub/c.toml":   "version = " + strconv.Itoa(v) + "\n[plugins.\"io.containerd.internal.v1.opt\"]\npath = \"/opt/containerd\"\n",
				"etc/containerd/b-other.toml": "version = " + strconv.Itoa(v) + "\n" + runtime(v, "other"),
			}
		}},
		{"a question mark is not a glob", func(v int) map[string]string {
			return map[string]string{
				"etc/containerd/config.toml":      "version = " + strconv.Itoa(v) + "\nimports = [\"conf.d/k?ta.toml\"]\n",
				"etc/containerd/conf.d/kata.toml": "version = " + strconv.Itoa(v) + "\n" + runtime(v, "kata"),
			}
		}},
	}
	for _, c := range []struct {
		major, version int
	}{{1, 2}, {2, 2}, {2, 3}} {
		for _, fx := range fixtures {
			t.Run("containerd"+strconv.Itoa(c.major)+"/v"+strconv.Itoa(c.version)+"/"+fx.name, func(t *testing.T) {
				bin := realContainerd(t, c.major)
				root := t.TempDir()
				writeTree(t, root, fx.files(c.version))
				want, dumpErr := dumpRuntimes(t, bin, root)

				chain, err := Load("/etc/containerd/config.toml", Options{Root: hostpath.Root(root), Major: c.major})
				if len(chain.Missing) > 0 {
					// The daemon fails on a missing import; 2.x's `config
					// dump` ignores it (command/config.go skips
					// IsNotExist), 1.x's fails too.
					if err == nil || (c.major == 1 && dumpErr == nil) {
						t.Fatalf("missing import %v: Load error %v, dump error %v; want both to fail", chain.Missing, err, dumpErr)
					}
					return
				}
				if dumpErr != nil {
					if err == nil {
						t.Fatalf("containerd refuses the chain (%v) but Load accepts it", dumpErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("containerd accepts the chain but Load fails: %v", err)
				}
				got := chain.servedRuntimes()
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("runtimes (-containerd config dump, +Load):\n%s", diff)
				}
			})
		}
	}
}

// servedRuntimes are the runtimes the CRI serves for this chain: those the
// files define, plus the built-in runc when the merged table has none
// (1.x) or always (2.x decodes the table over its defaults).
func (c *Chain) servedRuntimes() []string {
	rt := c.Runtimes()
	names := []string{}
	for n := range rt {
		names = append(names, n)
	}
	if _, ok := rt["runc"]; !ok && (rt == nil || c.Major >= 2) {
		names = append(names, "runc")
	}
	sort.Strings(names)
	return names
}

func TestResolveImport(t *testing.T) {
	for _, tc := range []struct {
		parent, imp string
		major       int
		want        string
		glob        bool
	}{
		{"/etc/containerd/config.toml", "conf.d/a.toml", 1, "/etc/containerd/conf.d/a.toml", false},
		{"/etc/containerd/config.toml", "conf.d/a.toml", 2, "/etc/containerd/conf.d/a.toml", false},
		{"/etc/containerd/config.toml", "conf.d/*.toml", 1, "/conf.d/*.toml", true},
		{"/etc/containerd/config.toml", "conf.d/*.toml", 2, "/etc/containerd/conf.d/*.toml", true},
		{"/etc/containerd/config.toml", "/etc/x/*.toml", 1, "/etc/x/*.toml", true},
		{"/etc/containerd/config.toml", "conf.d/a?.toml", 2, "/etc/containerd/conf.d/a?.toml", false},
		{"/etc/containerd/config.toml", "../x.toml", 1, "/etc/x.toml", false},
	} {
		p, glob := ResolveImport(tc.parent, tc.imp, tc.major, "")
		if p != tc.want || glob != tc.glob {
			t.Errorf("ResolveImport(%q, %q, %d) = %q, %v; want %q, %v", tc.parent, tc.imp, tc.major, p, glob, tc.want, tc.glob)
		}
	}
}

// TestLoadAbsoluteSymlink: an absolute config.toml link resolves inside the
// host root, never to this process's own /etc.
func TestLoadAbsoluteSymlink(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/containerd/config.toml": "symlink:/etc/k8s/containerd.toml",
		"etc/k8s/containerd.toml":    "version = 2\n" + runtime(2, "kata"),
	})
	chain, err := Load("/etc/containerd/config.toml", Options{Root: hostpath.Root(root)})
	if err != nil {
		t.Fatal(err)
	}
	if got := chain.Files[0].Real; got != "/etc/k8s/containerd.toml" {
		t.Errorf("Real = %q, want /etc/k8s/containerd.toml", got)
	}
	if chain.Files[0].Path != "/etc/containerd/config.toml" {
		t.Errorf("Path = %q, want the link's path", chain.Files[0].Path)
	}
}

// TestLoadBoundedAndSafe: a FIFO, a device and a huge file are refused
// with an error instead of hanging or exhausting memory; an import loop
// ends.
func TestLoadBoundedAndSafe(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/containerd/config.toml": "version = 2\nimports = [\"fifo.toml\", \"zero.toml\", \"big.toml\", \"config.toml\", \"loop.toml\"]\n",
		"etc/containerd/loop.toml":   "version = 2\nimports = [\"config.toml\", \"loop.toml\"]\n",
		"etc/containerd/zero.toml":   "symlink:/dev/zero",
	})
	if err := syscallMkfifo(filepath.Join(root, "etc/containerd/fifo.toml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The host's /dev/zero is the fixture's dev/zero: make it a symlink to
	// the real device so the read would never end if it were attempted.
	if err := os.Symlink("/dev/zero", filepath.Join(root, "dev/zero-real")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev/zero"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxFileBytes+1)
	if err := os.WriteFile(filepath.Join(root, "etc/containerd/big.toml"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	chain, err := Load("/etc/containerd/config.toml", Options{Root: hostpath.Root(root)})
	if err == nil {
		t.Fatal("want errors for the FIFO and the big file")
	}
	for _, want := range []error{hostpath.ErrNotRegular, hostpath.ErrTooLarge} {
		if !errors.Is(err, want) {
			t.Errorf("error %v does not report %v", err, want)
		}
	}
	if n := len(chain.Files); n != 3 { // config.toml, the empty dev/zero, loop.toml
		t.Errorf("loaded %d files, want 3: %v", n, chain.Files)
	}
	if _, err := hostpath.ReadFile("/dev/zero", 10); !errors.Is(err, hostpath.ErrNotRegular) {
		t.Errorf("reading /dev/zero: %v, want ErrNotRegular", err)
	}
}

func TestLoadMissingMain(t *testing.T) {
	_, err := Load("/etc/containerd/config.toml", Options{Root: hostpath.Root(t.TempDir())})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}
