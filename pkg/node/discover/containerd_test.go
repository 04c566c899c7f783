package discover

import (
	"context"
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
			compareWithDump(t, bin, "io.containerd.grpc.v1.cri", tc.files)
		})
	}
}

// TestContainerdConfigDumpV3 does the same for containerd 2.x (config
// version 3, CRI runtimes under io.containerd.cri.v1.runtime), whose imports
// merge tables key by key instead of replacing them. It needs a containerd
// 2.x: `containerd2` from hack/containerd2.sh (make test builds it).
func TestContainerdConfigDumpV3(t *testing.T) {
	bin, err := exec.LookPath("containerd2")
	if err != nil {
		t.Skip("containerd 2.x is not built (bash hack/containerd2.sh): cannot compare version 3 configs with `containerd config dump`")
	}
	if os.Geteuid() != 0 {
		t.Skip("absolute imports need the fixture bind-mounted over /etc/containerd in a private mount namespace, which needs root")
	}
	if _, err := os.Stat("/etc/containerd"); err != nil {
		t.Skip("/etc/containerd does not exist to bind-mount the fixture over; install containerd's package (bash hack/install-containerd.sh)")
	}
	const (
		plugin = "io.containerd.cri.v1.runtime"
		runc   = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\nruntime_type = 'io.containerd.runc.v2'\n"
		kata   = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata-qemu]\nruntime_type = 'io.containerd.kata-qemu.v2'\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.kata-qemu.options]\nConfigPath = '/opt/kata/configuration-qemu.toml'\n"
		runsc  = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]\nruntime_type = 'io.containerd.runsc.v1'\n"
	)
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"inline runtimes", map[string]string{"config.toml": "version = 3\n" + runc + kata}},
		{"drop-ins merge into config.toml's cri table", map[string]string{
			"config.toml":           "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n" + runc,
			"conf.d/10-kata.toml":   "version = 3\n" + kata,
			"conf.d/20-gvisor.toml": "version = 3\n" + runsc,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compareWithDump(t, bin, plugin, tc.files)
		})
	}
}

// compareWithDump writes files under a fixture's etc/containerd, asks the
// real containerd bin for its merged configuration and compares the CRI
// runtimes (type, ConfigPath) with what the kata source discovers. Config
// version 3 fixtures are read through a private mount namespace with the
// fixture bound over /etc/containerd, so that absolute imports resolve in it.
func compareWithDump(t *testing.T, bin, plugin string, files map[string]string) {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, "etc", "containerd", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dump := exec.Command(bin, "--config", filepath.Join(root, "etc", "containerd", "config.toml"), "config", "dump")
	if strings.Contains(files["config.toml"], "version = 3") {
		script := `mount --bind "$1/etc/containerd" /etc/containerd && exec "$2" --config /etc/containerd/config.toml config dump`
		dump = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, bin)
	}
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
	runtimes, _ := lookup(doc, "plugins", plugin, "containerd", "runtimes").(map[string]any)
	for name, r := range runtimes {
		rt, _ := r.(map[string]any)
		typ, _ := rt["runtime_type"].(string)
		cfg, _ := lookup(rt, "options", "ConfigPath").(string)
		want[name] = [2]string{typ, cfg}
	}
	if len(want) == 0 {
		t.Fatalf("containerd's merged config lists no runtimes under %s:\n%s", plugin, b)
	}

	k, _ := discoverKata(context.Background(), host{root: root}, DefaultContainerdConfig, "", "")
	got := map[string][2]string{}
	for _, h := range k.Handlers {
		// A Kata handler whose configuration exists reports the file it
		// read; here none exists, so report ConfigPath from the containerd
		// configuration.
		cfg := h.ConfigPath
		if h.Kata && cfg == "" {
			cfg = "/opt/kata/configuration-qemu.toml"
		}
		got[h.Name] = [2]string{h.RuntimeType, cfg}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("runtimes: containerd (-) vs discovery (+):\n%s", diff)
	}
}
