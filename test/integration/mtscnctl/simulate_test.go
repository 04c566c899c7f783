package mtscnctl

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mtscn/mtscn/test/integration/harness"
)

var update = flag.Bool("update", false, "rewrite the golden files of the simulate tests")

// runCLI runs mtscnctl from the repository root (where the default
// --scheduler-config path resolves) and returns stdout, stderr and the
// exit code.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(mtscnctlBin, args...)
	cmd.Dir = harness.RepoRoot()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return stdout.String(), stderr.String(), exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running mtscnctl %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), 0
}

// TestSimulateExamples runs simulate on every shipped example and compares
// the report with testdata/<example>.golden (go test -update rewrites
// them). The examples are built so that every placement is decided by the
// filters or by a clear score difference: the output does not depend on
// the scheduler's tie-breaking.
func TestSimulateExamples(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join(harness.RepoRoot(), "manifests", "examples", "simulate", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples found (%v)", err)
	}
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".yaml")
		t.Run(name, func(t *testing.T) {
			rel, _ := filepath.Rel(harness.RepoRoot(), ex)
			stdout, stderr, code := runCLI(t, "", "simulate", "-f", rel)
			if code != 0 {
				t.Fatalf("exit code %d\nstderr: %s", code, stderr)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), stdout); diff != "" {
				t.Errorf("simulate %s output (-want,+got):\n%s", rel, diff)
			}
			for _, step := range []string{"starting etcd and kube-apiserver", "submitting 8 pods to mtscn-scheduler"} {
				if !strings.Contains(stderr, step) {
					t.Errorf("progress on stderr lacks %q:\n%s", step, stderr)
				}
			}
		})
	}
}

func TestSimulateBadInput(t *testing.T) {
	const node = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {capacity: {cpu: \"8\", memory: 16Gi}}\n"
	tests := []struct {
		name, input string
		wantErr     string
	}{
		{
			name:    "unknown kind",
			input:   node + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
			wantErr: `Error: stdin: document 2: Deployment "web": kind: "Deployment" is not supported`,
		},
		{
			name:    "missing field",
			input:   node + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {}\n",
			wantErr: `Error: stdin: document 2: Pod "web": spec.containers: missing`,
		},
		{
			name:    "pod in a missing namespace",
			input:   node + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: [{name: app}]}\n",
			wantErr: `Error: stdin: document 2: Pod "shop/web": metadata.namespace: namespace "shop" is not defined: add a Namespace document named "shop"`,
		},
		{
			// Found by the API server's own validation, with the object named.
			name:    "invalid object",
			input:   node + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: Web_1}\nspec: {containers: [{name: app}]}\n",
			wantErr: `Error: creating Pod default/Web_1: Pod "Web_1" is invalid: metadata.name: Invalid value: "Web_1"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.input, "simulate", "-f", "-")
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantErr, stderr)
			}
			if strings.Contains(stdout, "== New pods") {
				t.Errorf("a report was printed for bad input:\n%s", stdout)
			}
		})
	}
	_, stderr, code := runCLI(t, "", "simulate")
	if code != 1 || !strings.Contains(stderr, "--filename (-f) is required") {
		t.Errorf("no -f: exit %d, stderr %q", code, stderr)
	}
}
