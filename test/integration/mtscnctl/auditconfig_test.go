package mtscnctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// tenantsConfig runs mtscn's plugins in a profile that is not named
// mtscn-scheduler, next to the default profile, with args that change what
// audit must find on auditCluster's broken cluster: I4 is not enforced
// (sideChannelPolicy: Ignore), and SandboxOverhead sizes kata-qemu VMs with
// 512Mi of default memory instead of 2Gi, so the 4Gi node n-f1 holds its
// two VMs (2 × (512Mi + 1Gi + 96Mi)) and n-f2's guest (1.5Gi) fits its 2Gi
// of /dev/shm.
const tenantsConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: tenants
  plugins:
    multiPoint:
      enabled: [{name: TenantIsolation}, {name: SandboxOverhead}, {name: SandboxFeatures}]
  pluginConfig:
  - name: TenantIsolation
    args:
      sideChannelPolicy: Ignore
  - name: SandboxOverhead
    args:
      profiles:
      - handler: "kata-qemu*"
        sizing: Hotplug
        defaultMemory: 512Mi
        hostOverhead: 96Mi
        sharedMemoryBacked: true
`

// TestAuditUsesTheSchedulersConfig: audit applies the args of the
// configuration and profile it is given (issue 15 item 9), whatever the
// profile's name, and says which it used.
func TestAuditUsesTheSchedulersConfig(t *testing.T) {
	cp := harness.StartControlPlane(t)
	auditCluster(t, cp, true)
	kubeconfig := writeKubeconfig(t, cp.Config)
	cfgPath := filepath.Join(t.TempDir(), "scheduler-config.yaml")
	if err := os.WriteFile(cfgPath, []byte(tenantsConfig), 0o600); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runAudit(t, "--kubeconfig", kubeconfig, "--scheduler-config", cfgPath, "-o", "json")
	if code != 1 {
		t.Errorf("exit code = %d, want 1 (stderr: %s)", code, stderr)
	}
	var got struct {
		auditJSON
		Policy struct {
			Source  string   `json:"source"`
			Profile string   `json:"profile"`
			Rules   []string `json:"rules"`
		} `json:"policy"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decoding -o json output: %v\n%s", err, stdout)
	}
	if got.Policy.Source != cfgPath || got.Policy.Profile != "tenants" {
		t.Errorf("policy source %q profile %q, want %q and tenants", got.Policy.Source, got.Policy.Profile, cfgPath)
	}
	if diff := cmp.Diff([]string{"I1", "I2", "I3", "F1", "F2", "F3"}, got.Policy.Rules); diff != "" {
		t.Errorf("rules (-want,+got):\n%s", diff)
	}
	var rules []string
	for _, v := range got.Violations {
		rules = append(rules, v.Rule+"/"+v.Node)
	}
	if diff := cmp.Diff([]string{"I1/n-i1", "I2/n-i2", "I3/n-i3", "F3/n-f3"}, rules); diff != "" {
		t.Errorf("violations under profile tenants (-want,+got):\n%s\n%s", diff, stdout)
	}

	// The table says the same on its first line.
	table, _, _ := runAudit(t, "--kubeconfig", kubeconfig, "--scheduler-config", cfgPath, "--profile", "tenants")
	if first, _, _ := strings.Cut(table, "\n"); first != `policy: profile "tenants" of `+cfgPath+`; checking I1 I2 I3 F1 F2 F3` {
		t.Errorf("first line %q does not name the configuration and profile", first)
	}
	// Without a configuration: the defaults, which the shipped file spells out.
	table, _, _ = runAudit(t, "--kubeconfig", kubeconfig)
	if first, _, _ := strings.Cut(table, "\n"); first != `policy: profile "mtscn-scheduler" of built-in defaults; checking I1 I2 I3 I4 F1 F2 F3` {
		t.Errorf("first line %q, want the built-in defaults", first)
	}

	// A profile that does not enforce the invariant, or does not exist, is
	// refused with a message that names the choices.
	for _, tc := range []struct{ profile, want string }{
		{"default-scheduler", `profile "default-scheduler" does not enable TenantIsolation`},
		{"mtscn-scheduler", `no profile "mtscn-scheduler" (profiles: default-scheduler, tenants)`},
	} {
		_, stderr, code := runAudit(t, "--kubeconfig", kubeconfig, "--scheduler-config", cfgPath, "--profile", tc.profile)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("--profile %s: exit %d, stderr %q; want 1 and %q", tc.profile, code, stderr, tc.want)
		}
	}
}
