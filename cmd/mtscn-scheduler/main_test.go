package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/component-base/cli"

	"github.com/mtscn/mtscn/pkg/schedulercmd"
)

// The test binary doubles as mtscn-scheduler: kube-scheduler exits the
// process after --write-config-to, so each case runs it in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("MTSCN_TEST_RUN_SCHEDULER") == "1" {
		os.Exit(cli.Run(schedulercmd.NewCommand()))
	}
	os.Exit(m.Run())
}

func runScheduler(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MTSCN_TEST_RUN_SCHEDULER=1")
	out, err := cmd.CombinedOutput()
	// klog quotes the error as a string: unescape it to compare.
	return strings.ReplaceAll(string(out), `\"`, `"`), err
}

// shippedConfig writes the shipped configuration with its kubeconfig
// pointed at a throw-away file, editing it with replace (which must match).
func shippedConfig(t *testing.T, replace ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "manifests", "scheduler", "scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: {token: unused}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), `kubeconfig: ""`, "kubeconfig: "+kubeconfig, 1)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(cfg, replace[i]) {
			t.Fatalf("shipped config no longer contains %q", replace[i])
		}
		cfg = strings.Replace(cfg, replace[i], replace[i+1], 1)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWriteConfigListsDefaultedArgs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.yaml")
	if log, err := runScheduler(t, "--config", shippedConfig(t), "--write-config-to", out); err != nil {
		t.Fatalf("mtscn-scheduler failed: %v\n%s", err, log)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{
		"schedulerName: mtscn-scheduler",
		"kind: TenantIsolationArgs", "kind: SandboxOverheadArgs", "kind: SandboxFeaturesArgs",
		// Defaults the shipped file leaves out are filled in.
		"handler: kata-qemu-runtime-rs", "sizing: Static",
		"name: usable /dev/kvm",
		"sideChannelPolicy: Enforce",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("written config lacks %q:\n%s", want, got)
		}
	}
}

func TestBadArgsFailStartUp(t *testing.T) {
	for _, tc := range []struct {
		name          string
		replace, with string
		want          []string
	}{
		{"misspelled field", "tenantLabelKeys:", "tenantLabelKey:", []string{`unknown field "tenantLabelKey"`}},
		{"invalid value", "sideChannelPolicy: Enforce", "sideChannelPolicy: Sometimes", []string{"pluginConfig[TenantIsolation].args.sideChannelPolicy", `"Enforce"`, `"Ignore"`}},
		{"out of range", "overcommitRatio: 1.0", "overcommitRatio: 0.2", []string{"pluginConfig[SandboxOverhead].args.overcommitRatio"}},
		// One classification per profile: TenantIsolation's off-node
		// handlers no longer equal the others' defaults.
		{"plugins classify pods differently", `offNodeHandlers: ["kata-remote*"]`, `offNodeHandlers: ["kata-remote*", "kata-peer*"]`,
			[]string{"pluginConfig[TenantIsolation].args.offNodeHandlers", "args.offNodeHandlers: Invalid value", "must equal", "the mtscn plugins of one profile classify pods alike"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.yaml")
			log, err := runScheduler(t, "--config", shippedConfig(t, tc.replace, tc.with), "--write-config-to", out)
			if err == nil {
				t.Fatalf("mtscn-scheduler started with a bad config:\n%s", log)
			}
			for _, w := range tc.want {
				if !strings.Contains(log, w) {
					t.Errorf("output does not name %q:\n%s", w, log)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a configuration was written despite the error")
			}
		})
	}
}

func TestPluginsRegistered(t *testing.T) {
	reg := schedulercmd.Registry()
	for _, name := range []string{"TenantIsolation", "SandboxOverhead", "SandboxFeatures",
		"CapacityScheduling", "Coscheduling", "NodeResourcesAllocatable", "NodeResourceTopologyMatch"} {
		if _, ok := reg[name]; !ok {
			t.Errorf("plugin %s is not registered", name)
		}
	}
}
