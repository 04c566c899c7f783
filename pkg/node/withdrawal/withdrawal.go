package withdrawal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"syscall"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Where the note lives on the host. The directory is below the installer's
// state directory but holds nothing else, so that discovery can mount it
// read-only without seeing the installer's backup of containerd's config.
// Nobody removes the directory: a host directory bind-mounted into another
// pod must stay the same inode, or that pod would keep an empty copy.
const (
	DefaultDir  = "/var/lib/mtscn-install/withdrawn"
	FileName    = "handlers.json"
	DefaultPath = DefaultDir + "/" + FileName
	// Mode is the note's file mode: readable by discovery's unprivileged user.
	Mode fs.FileMode = 0o644
	// MaxBytes bounds the note (a few hundred handler names).
	MaxBytes = 64 << 10
)

// Reasons for a withdrawal (informational, shown by `mtscn-node discover`).
const (
	ReasonInstall   = "install"
	ReasonUninstall = "uninstall"
)

// Note says which runtime handlers discovery must not report.
type Note struct {
	// Handlers are the withdrawn CRI runtime handlers, sorted, unique.
	Handlers []string `json:"handlers"`
	// Reason is why: ReasonInstall (the installer replaces them) or
	// ReasonUninstall.
	Reason string `json:"reason,omitempty"`
}

// Withdrawn reports whether the note names handler.
func (n Note) Withdrawn(handler string) bool { return slices.Contains(n.Handlers, handler) }

// With returns the note with handlers added.
func (n Note) With(reason string, handlers ...string) Note {
	out := Note{Reason: reason}
	for _, h := range slices.Concat(n.Handlers, handlers) {
		if !slices.Contains(out.Handlers, h) {
			out.Handlers = append(out.Handlers, h)
		}
	}
	slices.Sort(out.Handlers)
	return out
}

// Without returns the note without handlers; the reason is kept while any
// handler is left.
func (n Note) Without(handlers ...string) Note {
	out := Note{Reason: n.Reason}
	for _, h := range n.Handlers {
		if !slices.Contains(handlers, h) {
			out.Handlers = append(out.Handlers, h)
		}
	}
	if len(out.Handlers) == 0 {
		out.Reason = ""
	}
	return out
}

// Empty reports whether the note withdraws nothing.
func (n Note) Empty() bool { return len(n.Handlers) == 0 }

// Marshal encodes the note as the file's content.
func Marshal(n Note) []byte {
	if n.Handlers == nil {
		n.Handlers = []string{}
	}
	b, _ := json.MarshalIndent(n, "", "  ") // strings only: cannot fail
	return append(b, '\n')
}

// Parse decodes and checks a note. Every handler must make a valid label
// key mtscn.io/runtime.<handler>; unknown fields are an error.
func Parse(name string, b []byte) (Note, error) {
	var n Note
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return Note{}, fmt.Errorf("%s: not a withdrawal note (JSON with a handlers list): %w; the installer rewrites it, or remove it", name, err)
	}
	if dec.More() {
		return Note{}, fmt.Errorf("%s: trailing data after the note; the installer rewrites it, or remove it", name)
	}
	for _, h := range n.Handlers {
		if msgs := validation.IsQualifiedName(wellknown.RuntimeLabel(h)); h == "" || len(msgs) > 0 {
			return Note{}, fmt.Errorf("%s: handlers: %q is not a runtime handler name (%v); the installer rewrites it, or remove it", name, h, msgs)
		}
	}
	return n.With(n.Reason), nil
}

// Read reads the note at the host path p under root. A missing file (or
// directory) is an empty note. The file must be a regular file of at most
// MaxBytes.
func Read(root hostpath.Root, p string) (Note, error) {
	full := root.Path(path.Clean(p))
	b, err := hostpath.ReadFile(full, MaxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return Note{}, nil
	}
	if err != nil {
		return Note{}, fmt.Errorf("reading the installer's withdrawal note: %w", err)
	}
	return Parse(p, b)
}

// Stamp identifies the note's current version cheaply (one stat, no read):
// it changes when the installer replaces the file (a new inode) or edits
// it. A missing note has the stamp "".
func Stamp(root hostpath.Root, p string) string {
	fi, err := os.Lstat(root.Path(path.Clean(p)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		return "error: " + err.Error()
	}
	ino := uint64(0)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%d/%d/%d/%v", ino, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
}
