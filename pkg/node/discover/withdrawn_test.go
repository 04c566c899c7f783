package discover

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtscn/mtscn/pkg/node/withdrawal"
)

// writeNote writes the installer's withdrawal note under root as the
// installer does (0644).
func writeNote(t *testing.T, root string, n withdrawal.Note) {
	t.Helper()
	p := filepath.Join(root, withdrawal.DefaultPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, withdrawal.Marshal(n), withdrawal.Mode); err != nil {
		t.Fatal(err)
	}
}

// TestWithdrawnHandlersNotReported: a handler the installer withdrew is not
// reported (no sandbox attribute, so nfd-rules produce no runtime label)
// although containerd's config has it; the others still are; an unreadable
// note withholds every sandbox handler and is an error naming the file.
func TestWithdrawnHandlersNotReported(t *testing.T) {
	root, opts := copyFixture(t, "smt-l1tf-vulnerable")
	opts.Sources, opts.CRISocket = []string{SourceKata}, "none"
	labels := func() (map[string]string, *Result) {
		res := Discover(context.Background(), opts)
		return runRules(t, res.Features()).Labels, res
	}
	before, _ := labels()
	if before["mtscn.io/runtime.runsc"] != "true" || before["mtscn.io/runtime.kata-qemu"] != "true" {
		t.Fatalf("fixture labels %v: want runsc and kata-qemu", before)
	}

	writeNote(t, root, withdrawal.Note{Handlers: []string{"runsc"}, Reason: withdrawal.ReasonInstall})
	got, res := labels()
	if got["mtscn.io/runtime.runsc"] != "" || got["mtscn.io/runtime.kata-qemu"] != "true" {
		t.Errorf("labels with runsc withdrawn: %v; want kata-qemu only", got)
	}
	if len(res.Kata.Withdrawn) != 1 || res.Kata.Withdrawn[0] != "runsc" {
		t.Errorf("Kata.Withdrawn = %v, want [runsc]", res.Kata.Withdrawn)
	}
	if _, failed := res.Errors[SourceKata]; failed && strings.Contains(res.Errors[SourceKata], "withdrawal") {
		t.Errorf("a valid note is an error: %v", res.Errors)
	}

	// Cleared: reported again.
	if err := os.Remove(filepath.Join(root, withdrawal.DefaultPath)); err != nil {
		t.Fatal(err)
	}
	if got, _ := labels(); got["mtscn.io/runtime.runsc"] != "true" {
		t.Errorf("labels after the note is cleared: %v; want runsc back", got)
	}

	// A damaged note: fail closed.
	if err := os.WriteFile(filepath.Join(root, withdrawal.DefaultPath), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, res = labels()
	for k := range got {
		if strings.HasPrefix(k, "mtscn.io/runtime.") {
			t.Errorf("label %s reported with a damaged note", k)
		}
	}
	if msg := res.Errors[SourceKata]; !strings.Contains(msg, withdrawal.DefaultPath) || !strings.Contains(msg, "withheld") {
		t.Errorf("kata error = %q, want it to name the note and say the handlers are withheld", msg)
	}
}
