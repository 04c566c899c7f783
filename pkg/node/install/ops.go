package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Ops is every operation the installer performs on the host's file system.
// The mutating methods are the points where a crash can happen; tests wrap
// Ops to fail after any one of them. Read-only methods never change the host.
type Ops interface {
	// ReadFile returns the content of path.
	ReadFile(path string) ([]byte, error)
	// Lstat describes path without following a final symlink.
	Lstat(path string) (fs.FileInfo, error)
	// ReadDir lists a directory, sorted by name.
	ReadDir(path string) ([]fs.DirEntry, error)
	// Readlink returns a symlink's target.
	Readlink(path string) (string, error)
	// Open opens a file for reading.
	Open(path string) (io.ReadCloser, error)

	// MkdirAll creates path and its parents.
	MkdirAll(path string, perm fs.FileMode) error
	// CreateFile creates a new file at path (which must not be in use) with
	// the content of r, fsyncs and closes it.
	CreateFile(path string, r io.Reader, perm fs.FileMode) error
	// Symlink creates newname pointing at oldname.
	Symlink(oldname, newname string) error
	// Rename atomically renames oldpath to newpath (replacing a file at
	// newpath) and fsyncs the parent directory.
	Rename(oldpath, newpath string) error
	// Exchange atomically swaps two paths (renameat2 RENAME_EXCHANGE). It
	// returns ErrExchangeUnsupported when the file system cannot do it.
	Exchange(a, b string) error
	// Chown sets a file's owner (uid, gid; -1 keeps one).
	Chown(path string, uid, gid int) error
	// Remove removes a file or an empty directory.
	Remove(path string) error
	// RemoveAll removes path and everything below it.
	RemoveAll(path string) error
}

// ErrExchangeUnsupported is returned by Ops.Exchange when the file system
// has no atomic exchange; the caller falls back to two renames.
var ErrExchangeUnsupported = errors.New("atomic exchange not supported by the file system")

// OSOps is Ops on the real file system.
type OSOps struct {
	// NoSync skips fsync. Only for tests on throw-away trees: without
	// fsync a power loss can leave a renamed file empty.
	NoSync bool
}

var _ Ops = OSOps{}

// ReadFile implements Ops.
func (OSOps) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// Lstat implements Ops.
func (OSOps) Lstat(path string) (fs.FileInfo, error) { return os.Lstat(path) }

// ReadDir implements Ops.
func (OSOps) ReadDir(path string) ([]fs.DirEntry, error) { return os.ReadDir(path) }

// Readlink implements Ops.
func (OSOps) Readlink(path string) (string, error) { return os.Readlink(path) }

// Open implements Ops.
func (OSOps) Open(path string) (io.ReadCloser, error) { return os.Open(path) }

// MkdirAll implements Ops.
func (OSOps) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// CreateFile implements Ops.
func (o OSOps) CreateFile(path string, r io.Reader, perm fs.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	// O_CREATE applies the umask; the artifacts' mode must survive it.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if o.NoSync {
		return nil
	}
	return f.Sync()
}

// Symlink implements Ops.
func (OSOps) Symlink(oldname, newname string) error { return os.Symlink(oldname, newname) }

// Rename implements Ops.
func (o OSOps) Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if o.NoSync {
		return nil
	}
	return syncDir(filepath.Dir(newpath))
}

// Exchange implements Ops.
func (o OSOps) Exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return ErrExchangeUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	if o.NoSync {
		return nil
	}
	return syncDir(filepath.Dir(b))
}

// Chown implements Ops.
func (OSOps) Chown(path string, uid, gid int) error { return os.Lchown(path, uid, gid) }

// Remove implements Ops.
func (OSOps) Remove(path string) error { return os.Remove(path) }

// RemoveAll implements Ops.
func (OSOps) RemoveAll(path string) error { return os.RemoveAll(path) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic replaces path with data: a temp file in the same
// directory, fsynced, then renamed over path. A reader sees the old or the
// new content, never a partial one, and a running binary at path keeps its
// old inode (no "text file busy").
func writeFileAtomic(ops Ops, path string, data []byte, perm fs.FileMode) error {
	return writeFileAs(ops, path, data, perm, -1, -1)
}

// writeFileAs is writeFileAtomic with an owner for the new file (-1 keeps
// this process's): a file the installer rewrites keeps its mode and owner.
func writeFileAs(ops Ops, path string, data []byte, perm fs.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	if err := ops.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	tmp := tempName(path)
	// A temp file left by a crashed run is ours to replace.
	if err := ops.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale temp file %s: %w", tmp, err)
	}
	if err := ops.CreateFile(tmp, bytes.NewReader(data), perm); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := ops.Chown(tmp, uid, gid); err != nil {
			return fmt.Errorf("keeping the owner of %s: %w", path, err)
		}
	}
	if err := ops.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return nil
}

// tempSuffix marks the installer's temp files. The name is fixed, not
// per-process, so that a run after a crash finds and replaces the leftover.
const tempSuffix = ".mtscn-tmp"

func tempName(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+tempSuffix)
}

// removeIfExists removes a file and reports whether it was there.
func removeIfExists(ops Ops, path string) (bool, error) {
	if _, err := ops.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("checking %s: %w", path, err)
	}
	if err := ops.RemoveAll(path); err != nil {
		return false, fmt.Errorf("removing %s: %w", path, err)
	}
	return true, nil
}

// readOptional reads a file; a missing file is (nil, false, nil).
func readOptional(ops Ops, path string) ([]byte, bool, error) {
	b, err := ops.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, true, nil
}
