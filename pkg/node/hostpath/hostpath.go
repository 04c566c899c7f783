package hostpath

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Root is the directory where the host's / is mounted.
type Root string

// maxLinks bounds symlink resolution, as the kernel does (ELOOP after 40).
const maxLinks = 40

// Path returns the host path p (absolute, as the host names it) under the
// root. It does not resolve symlinks.
func (r Root) Path(p string) string {
	root := string(r)
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, p)
}

// Rel turns a path under the root back into a host path ("/etc/x").
func (r Root) Rel(p string) (string, error) {
	root := string(r)
	if root == "" {
		root = "/"
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is not under the host root %s", p, root)
	}
	return path.Join("/", filepath.ToSlash(rel)), nil
}

// Resolve follows every symlink in the host path p as the host would
// (absolute targets start at the host's /, ".." stops at the host's /) and
// returns the host path of what p names. A final component that does not
// exist is allowed (the result names where it would be); a missing
// directory on the way is returned as is too.
func (r Root) Resolve(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("host path %q is not absolute", p)
	}
	pending := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	resolved := "/"
	links := 0
	for len(pending) > 0 {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, part)
		fi, err := os.Lstat(r.Path(next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return path.Join(append([]string{next}, pending...)...), nil
			}
			return "", fmt.Errorf("resolving host path %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("resolving host path %s: too many levels of symbolic links: %w", p, syscall.ELOOP)
		}
		target, err := os.Readlink(r.Path(next))
		if err != nil {
			return "", fmt.Errorf("resolving host path %s: %w", p, err)
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return resolved, nil
}

// ErrTooLarge is returned by ReadFile for a file above the limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is returned by ReadFile for anything but a regular file
// (a FIFO, a device such as /dev/zero, a directory, a socket).
var ErrNotRegular = errors.New("not a regular file")

// ReadFile reads the file at name (a path this process can open, e.g.
// Root.Path of a host path), refusing anything but a regular file and any
// file larger than max bytes. It never blocks on a FIFO: the file is opened
// non-blocking and checked before it is read.
func ReadFile(name string, max int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w (%v)", ErrNotRegular, fi.Mode().Type())}
	}
	if fi.Size() > max {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, fi.Size(), max)}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)}
	}
	return b, nil
}
