package containerd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// FuzzParse: any bytes either parse or give an error naming the file; a
// parsed document has a readable version or an error, and re-encodes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\nruntime_type = \"io.containerd.runc.v2\"\n",
		"version = 3\nimports = ['conf.d/*.toml']\n",
		"imports = [1, 2]\n",
		"version = \"2\"\n",
		"[a]\nb = {c = [1, {d = 2}]}\n",
		"version = 99999999999999999999\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("config.toml", data)
		if err != nil {
			return
		}
		_, _ = Version("config.toml", doc)
		_, _ = StringList("config.toml", "imports", doc["imports"])
		cp := DeepCopy(doc).(map[string]any)
		DeepMerge(cp, doc)
		if _, err := Marshal(doc); err != nil {
			// go-toml cannot always re-encode what it decoded (e.g. keys
			// needing quoting in odd ways); callers report the error.
			return
		}
	})
}

// FuzzLoad: a fuzzed config.toml with a fuzzed import never panics, never
// hangs, and yields at most MaxFiles files, for both containerd versions.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("version = 2\nimports = [\"conf.d/*.toml\", \"a.toml\"]\n"), []byte("version = 2\nimports = [\"../containerd/config.toml\"]\n"))
	f.Add([]byte("version = 3\nimports = [\"/etc/containerd/a.toml\", \"[\"]\n"), []byte("[plugins]\nx = 1\n"))
	f.Add([]byte("imports = [\"*\", \"**/*\", \"/dev/zero\"]\n"), []byte("imports = \"a.toml\"\n"))
	f.Fuzz(func(t *testing.T, main, imported []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "etc/containerd")
		if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.toml"), main, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.toml"), imported, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "conf.d/b.toml"), imported, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, major := range []int{1, 2} {
			chain, _ := Load("/etc/containerd/config.toml", Options{Root: hostpath.Root(root), Major: major})
			if len(chain.Files) > MaxFiles {
				t.Fatalf("%d files loaded, limit %d", len(chain.Files), MaxFiles)
			}
			_ = chain.Runtimes()
			_ = chain.DefaultRuntimeName()
		}
	})
}
