package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func copyFixture(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func runRoot(args ...string) error {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(new(strings.Builder))
	root.SetErr(new(strings.Builder))
	return root.Execute()
}

// The install and uninstall subcommands round-trip a fixture host.
func TestInstallUninstallCommands(t *testing.T) {
	host := t.TempDir()
	copyFixture(t, "../../pkg/node/install/testdata/hosts/containerd-1.6", host)
	artifacts, err := filepath.Abs("../../pkg/node/install/testdata/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(host, "etc/containerd/config.toml")
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--no-node", "--host-root", host, "--restart-mode=none", "--verify=none", "--force"}
	if err := runRoot(append([]string{"install", "--artifacts", artifacts, "--shims", "qemu"}, common[:len(common)-1]...)...); err != nil {
		t.Fatalf("install: %v", err)
	}
	// containerd 1.x layout: the runtime goes into config.toml itself.
	edited, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(edited), "runtimes.kata-qemu]") || strings.Contains(string(edited), "kata-clh") {
		t.Errorf("--shims qemu: config.toml does not hold exactly kata-qemu:\n%s", edited)
	}
	if err := runRoot(append([]string{"uninstall", "--force"}, common[:len(common)-1]...)...); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	got, err := os.ReadFile(cfg)
	if err != nil || string(got) != string(orig) {
		t.Errorf("config.toml not restored byte for byte (err=%v)", err)
	}
}

func TestInstallCommandErrors(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "bad restart", args: []string{"install", "--no-node", "--restart-mode=reboot"}, wantErr: `--restart-mode="reboot": must be systemd, signal, command or none`},
		{name: "command without command", args: []string{"install", "--no-node", "--restart-mode=command"}, wantErr: `--restart-mode=command needs --restart-command`},
		{name: "bad gvisor shim", args: []string{"install", "--no-node", "--restart-mode=none", "--gvisor-shim=x"}, wantErr: `--gvisor-shim="x"`},
		{name: "bad verify", args: []string{"uninstall", "--no-node", "--verify=maybe"}, wantErr: `--verify="maybe": must be cri, dump or none`},
		{name: "no node name", args: []string{"install", "--restart-mode=none"}, wantErr: "--node-name is empty and $NODE_NAME is not set"},
		{name: "relative install dir", args: []string{"install", "--no-node", "--install-dir", "opt/kata"}, wantErr: `--install-dir="opt/kata": must be an absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := runRoot(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
