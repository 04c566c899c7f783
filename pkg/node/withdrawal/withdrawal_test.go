package withdrawal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Note
		wantErr []string
	}{
		{name: "sorted, deduplicated", in: `{"handlers": ["runsc", "kata-qemu", "runsc"], "reason": "install"}`,
			want: Note{Handlers: []string{"kata-qemu", "runsc"}, Reason: ReasonInstall}},
		{name: "empty", in: `{"handlers": []}`, want: Note{}},
		{name: "not JSON", in: `handlers = ["runsc"]`, wantErr: []string{"note.json", "not a withdrawal note"}},
		{name: "unknown field", in: `{"handlers": [], "labels": {}}`, wantErr: []string{"unknown field"}},
		{name: "trailing data", in: `{"handlers": []} {}`, wantErr: []string{"trailing data"}},
		{name: "not a handler name", in: `{"handlers": ["run sc"]}`, wantErr: []string{`"run sc" is not a runtime handler name`, "remove it"}},
		{name: "empty handler", in: `{"handlers": [""]}`, wantErr: []string{`"" is not a runtime handler name`}},
		{name: "too long for a label", in: `{"handlers": ["` + strings.Repeat("a", 64) + `"]}`, wantErr: []string{"is not a runtime handler name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("note.json", []byte(tc.in))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want an error, got %+v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want,+got):\n%s", diff)
			}
		})
	}
}

func TestWithWithout(t *testing.T) {
	n := Note{}.With(ReasonInstall, "runsc", "kata-qemu").With(ReasonUninstall, "runsc")
	if diff := cmp.Diff(Note{Handlers: []string{"kata-qemu", "runsc"}, Reason: ReasonUninstall}, n); diff != "" {
		t.Errorf("With (-want,+got):\n%s", diff)
	}
	if got := n.Without("runsc"); !got.Withdrawn("kata-qemu") || got.Withdrawn("runsc") || got.Reason != ReasonUninstall {
		t.Errorf("Without(runsc) = %+v", got)
	}
	if got := n.Without("runsc", "kata-qemu"); !got.Empty() || got.Reason != "" {
		t.Errorf("Without(all) = %+v, want empty", got)
	}
	back, err := Parse("x", Marshal(n))
	if err != nil || !cmp.Equal(back, n) {
		t.Errorf("Marshal/Parse round trip: %+v, %v", back, err)
	}
	if _, err := Parse("x", Marshal(Note{})); err != nil {
		t.Errorf("an empty note does not parse: %v", err)
	}
}

// TestRead: a missing note withdraws nothing; a FIFO or a huge file in its
// place is an error, never a wait or an exhausted agent; Stamp changes
// when the note is replaced.
func TestRead(t *testing.T) {
	root := t.TempDir()
	r := hostpath.Root(root)
	if n, err := Read(r, DefaultPath); err != nil || !n.Empty() {
		t.Fatalf("missing note: %+v, %v", n, err)
	}
	if Stamp(r, DefaultPath) != "" {
		t.Errorf("stamp of a missing note = %q", Stamp(r, DefaultPath))
	}
	p := filepath.Join(root, DefaultPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(n Note) {
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, Marshal(n), Mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	write(Note{Handlers: []string{"runsc"}})
	s1 := Stamp(r, DefaultPath)
	if n, err := Read(r, DefaultPath); err != nil || !n.Withdrawn("runsc") {
		t.Fatalf("Read = %+v, %v", n, err)
	}
	write(Note{Handlers: []string{"runsc"}}) // same content, new file
	if s2 := Stamp(r, DefaultPath); s2 == s1 || s2 == "" {
		t.Errorf("stamp did not change when the note was replaced: %q -> %q", s1, s2)
	}

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(r, DefaultPath); !errors.Is(err, hostpath.ErrNotRegular) {
		t.Errorf("FIFO: %v, want ErrNotRegular", err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, MaxBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(r, DefaultPath); !errors.Is(err, hostpath.ErrTooLarge) {
		t.Errorf("huge note: %v, want ErrTooLarge", err)
	}
}

// FuzzParse: any bytes either parse into a note whose handlers all make
// valid labels and that round-trips, or are an error; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"handlers": ["runsc", "kata-qemu"], "reason": "install"}`))
	f.Add([]byte(`{"handlers": []}`))
	f.Add([]byte(`{"handlers": null}`))
	f.Add([]byte(`{"handlers": ["a/b"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		back, err := Parse("fuzz", Marshal(n))
		if err != nil {
			t.Fatalf("a parsed note does not parse back: %v", err)
		}
		if !cmp.Equal(back.Handlers, n.Handlers, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") })) {
			t.Fatalf("round trip changed the handlers: %v -> %v", n.Handlers, back.Handlers)
		}
	})
}
