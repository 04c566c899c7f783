package mtscnctl

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// TestKubectlPlugin installs mtscnctl with `make install-files` (what `make
// install` runs after building) into a temporary prefix, finds
// kubectl-mtscn on PATH the way kubectl's plugin handler does for `kubectl
// mtscn ...`, and runs `audit` through it with kubectl's connection flags:
// the kubeconfig's current context points at a closed port, --context
// selects the real kube-apiserver.
func TestKubectlPlugin(t *testing.T) {
	destdir := t.TempDir()
	install := exec.Command("make", "--no-print-directory", "install-files",
		"BIN="+filepath.Dir(mtscnctlBin), "INSTALL_BINS=mtscnctl", "DESTDIR="+destdir, "PREFIX=/usr/local")
	install.Dir = harness.RepoRoot()
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install-files: %v\n%s", err, out)
	}
	bindir := filepath.Join(destdir, "usr", "local", "bin")
	t.Setenv("PATH", bindir+string(os.PathListSeparator)+os.Getenv("PATH"))
	// kubectl looks up "kubectl-" + the command words on PATH.
	plugin, err := exec.LookPath("kubectl-mtscn")
	if err != nil {
		t.Fatalf("kubectl-mtscn is not on PATH after make install-files: %v", err)
	}
	if plugin != filepath.Join(bindir, "kubectl-mtscn") {
		t.Fatalf("found %s, want the installed %s", plugin, filepath.Join(bindir, "kubectl-mtscn"))
	}

	cp := harness.StartControlPlane(t)
	cp.CreateNode(t, st.MakeNode().Name("node-1").Obj())
	kubeconfig := writeKubeconfig(t, cp.Config)
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc.Clusters["gone"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	kc.Contexts["gone"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "test"}
	kc.CurrentContext = "gone"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command("kubectl-mtscn", args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	t.Run("--context selects the cluster", func(t *testing.T) {
		stdout, stderr, err := run("audit", "--context", "test", "-o", "json")
		if err != nil {
			t.Fatalf("kubectl mtscn audit --context test: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		var report auditJSON
		if err := json.Unmarshal([]byte(stdout), &report); err != nil {
			t.Fatalf("audit -o json: %v\n%s", err, stdout)
		}
		if report.Nodes != 1 {
			t.Errorf("audit saw %d nodes, want the 1 node of the --context cluster", report.Nodes)
		}
	})
	t.Run("current context by default", func(t *testing.T) {
		_, stderr, err := run("audit")
		if err == nil || !strings.Contains(stderr, "127.0.0.1:1") {
			t.Errorf("kubectl mtscn audit with the current context %q: err %v, stderr %q; want a failure reaching 127.0.0.1:1", "gone", err, stderr)
		}
	})
	t.Run("--server and --token override the kubeconfig", func(t *testing.T) {
		stdout, stderr, err := run("audit", "--server", cp.Config.Host, "--insecure-skip-tls-verify", "--token", cp.Config.BearerToken, "-o", "json")
		if err != nil {
			t.Fatalf("kubectl mtscn audit --server: %v\n%s%s", err, stdout, stderr)
		}
	})
	t.Run("help names the plugin", func(t *testing.T) {
		stdout, _, err := run("audit", "--help")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "kubectl mtscn audit [flags]") || !strings.Contains(stdout, "--context string") {
			t.Errorf("kubectl mtscn audit --help does not show the plugin's usage and --context:\n%s", stdout)
		}
	})
}
