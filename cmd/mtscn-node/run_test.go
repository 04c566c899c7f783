package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/node/agent"
	"github.com/mtscn/mtscn/pkg/node/discover"
)

// TestConfigPrecedence checks defaults < config file < flags: a key in the
// file overrides the default, a flag given on the command line overrides
// the file, and flags left unset do not.
func TestConfigPrecedence(t *testing.T) {
	t.Setenv("NODE_NAME", "env-node")
	t.Setenv("POD_NAMESPACE", "")
	file := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(file, []byte("publish: node-labels\ninterval: 5m\nhostRoot: /host\nmaxSandboxes: 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := func(c *agent.Config) {
		c.Publish, c.Interval.Duration, c.HostRoot, c.MaxSandboxes = agent.PublishNodeLabels, 5*time.Minute, "/host", 20
	}
	tests := []struct {
		name string
		args []string
		want func(*agent.Config)
	}{
		{"defaults", nil, func(c *agent.Config) {}},
		{"file over defaults", []string{"--config", file}, fromFile},
		{"flags over the file", []string{"--config", file, "--interval=30s", "--publish=none", "--node-name=flag-node"}, func(c *agent.Config) {
			fromFile(c)
			c.Interval.Duration, c.Publish, c.NodeName = 30*time.Second, agent.PublishNone, "flag-node"
		}},
		// A flag given with its default value still overrides the file.
		{"explicit flag equal to the default", []string{"--config", file, "--max-sandboxes=110"}, func(c *agent.Config) {
			fromFile(c)
			c.MaxSandboxes = 110
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &runOptions{flagCfg: agent.DefaultConfig()}
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			addRunFlags(fs, o)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := buildConfig(fs, o.configFile, o.flagCfg)
			if err != nil {
				t.Fatal(err)
			}
			want := agent.DefaultConfig()
			want.NodeName = "env-node"
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("publsh: node-labels\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{bad, `unknown field "publsh"`},
		{filepath.Join(dir, "missing.yaml"), "no such file"},
	} {
		o := &runOptions{flagCfg: agent.DefaultConfig()}
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		addRunFlags(fs, o)
		_, err := buildConfig(fs, tc.file, o.flagCfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--config") {
			t.Errorf("config file %s: want an error about --config containing %q, got %v", tc.file, tc.want, err)
		}
	}
}

// TestDiscoverCommand runs `mtscn-node discover` on a fixture tree. The
// fixture's dev/kvm is a regular file, so the real KVM probe must refuse it.
func TestDiscoverCommand(t *testing.T) {
	root := filepath.Join("..", "..", "pkg", "node", "discover", "testdata", "smt-l1tf-vulnerable")
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			cmd := newRootCommand()
			cmd.SetOut(&out)
			cmd.SetArgs([]string{"discover", "--host-root", root, "-o", format})
			if err := cmd.Execute(); err != nil {
				t.Fatalf("discover: %v", err)
			}
			var res discover.Result
			var err error
			if format == "json" {
				err = json.Unmarshal(out.Bytes(), &res)
			} else {
				err = yaml.UnmarshalStrict(out.Bytes(), &res)
			}
			if err != nil {
				t.Fatalf("decoding the %s output: %v\n%s", format, err, out.String())
			}
			if res.CPU == nil || res.CPU.CotenancySafe || res.CPU.Vulnerabilities["l1tf"].State != discover.VulnVulnerable {
				t.Errorf("cpu: want l1tf vulnerable and cotenancy unsafe, got %+v", res.CPU)
			}
			if res.KVM == nil || !res.KVM.Device || res.KVM.IsUsable() || res.KVM.Mode != discover.ModeNone ||
				!strings.Contains(strings.Join(res.KVM.NotUsable, ";"), "not a character device") {
				t.Errorf("kvm: a regular file at dev/kvm must be found but not usable, got %+v", res.KVM)
			}
			if res.Kata == nil || len(res.Kata.Handlers) != 4 {
				t.Errorf("kata: want 4 handlers, got %+v", res.Kata)
			}
		})
	}
	cmd := newRootCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"discover", "-o", "xml"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "json and yaml") {
		t.Errorf("-o xml: want an error listing the formats, got %v", err)
	}
	cmd.SetArgs([]string{"discover", "--sources", "kvm,gpu"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("--sources gpu: want an error naming it, got %v", err)
	}
}
