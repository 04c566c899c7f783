package discover

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
)

// TestContainerdConfigDump checks the kata source's reading of containerd's
// configuration (imports, merge order, version-2 plugin table replacement)
// against containerd itself: `containerd --config F config dump` prints the
// configuration containerd would run with, without starting a daemon.
// containerd 1.x is needed (Debian's 1.6 here); config version 2.
func TestContainerdConfigDump(t *testing.T) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not installed (apt-get install containerd): cannot compare with `containerd config dump`")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(out), " 1.") {
		t.Skipf("containerd 1.x needed for version-2 semantics, have %q (%v)", strings.TrimSpace(string(out)), err)
	}
	const (
		runc  = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\nruntime_type = \"io.containerd.runc.v2\"\n"
		kata  = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata-qemu]\nruntime_type = \"io.containerd.kata-qemu.v2\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata-qemu.options]\nConfigPath = \"/opt/kata/configuration-qemu.toml\"\n"
		runsc = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]\nruntime_type = \"io.containerd.runsc.v1\"\n"
	)
	tests := []struct {
		name  string
		files map[string]string // under etc/containerd
	}{
		{"inline runtimes", map[string]string{"config.toml": "version = 2\n" + runc + kata}},
		{"relative imports merge runtimes of different plugins tables", map[string]string{
			"config.toml":         "version = 2\nimports = [\"conf.d/10-kata.toml\"]\n[plugins.\"io.containerd.internal.v1.opt\"]\npath = \"/opt/containerd\"\n",
			"conf.d/10-kata.toml": "version = 2\n" + kata,
		}},
		{"a drop-in's cri table replaces config.toml's", map[string]string{
			"config.toml":           "version = 2\nimports = [\"conf.d/10-kata.toml\", \"conf.d/20-gvisor.toml\"]\n" + runc,
			"conf.d/10-kata.toml":   "version = 2\n" + kata,
			"conf.d/20-gvisor.toml": "version = 2\n" + runsc,
		}},
		{"a relative glob is not relative to the config file", map[string]string{
			"config.toml":         "version = 2\nimports = [\"conf.d/*.toml\"]\n" + runc,
			"conf.d/10-kata.toml": "version = 2\n" + kata,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, "etc", "containerd", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			dump := exec.Command(bin, "--config", filepath.Join(root, "etc", "containerd", "config.toml"), "config", "dump")
			dump.Dir = "/" // containerd's working directory under systemd
			b, err := dump.CombinedOutput()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s", err, b)
			}
			var doc map[string]any
			if err := toml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("parsing the dump: %v", err)
			}
			want := map[string][2]string{}
			runtimes, _ := lookup(doc, "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes").(map[string]any)
			for name, r := range runtimes {
				rt, _ := r.(map[string]any)
				typ, _ := rt["runtime_type"].(string)
				cfg, _ := lookup(rt, "options", "ConfigPath").(string)
				want[name] = [2]string{typ, cfg}
			}

			k, _ := discoverKata(host{root: root}, DefaultContainerdConfig)
			got := map[string][2]string{}
			for _, h := range k.Handlers {
				// A Kata handler whose configuration exists reports the
				// file it read; here none exists, so report ConfigPath
				// from the containerd configuration.
				cfg := h.ConfigPath
				if h.Kata && cfg == "" {
					cfg = "/opt/kata/configuration-qemu.toml"
				}
				got[h.Name] = [2]string{h.RuntimeType, cfg}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("runtimes: containerd (-) vs discovery (+):\n%s", diff)
			}
		})
	}
}
