package discover

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// Bounds on what discovery reads from the host: a file planted or grown
// there (a huge file, /dev/zero behind a symlink, a FIFO) must neither
// exhaust the agent's memory nor block it.
const (
	// MaxFileBytes bounds every host file discovery reads: sysfs and procfs
	// attributes, /proc/cpuinfo and /proc/1/mounts of big nodes, containerd
	// and Kata configuration files all stay far below it.
	MaxFileBytes = 4 << 20
	// MaxDirEntries bounds the entries read from one host directory
	// (PCI functions, IOMMU groups, vulnerabilities).
	MaxDirEntries = 65536
)

// host resolves host paths under a root directory.
type host struct{ root string }

// path returns the host path p under the root.
func (h host) path(p string) string { return filepath.Join(h.root, p) }

// readFile returns the content of the host file p, which must be a regular
// file (FIFOs, devices and sockets are refused without blocking) of at
// most MaxFileBytes.
func (h host) readFile(p string) ([]byte, error) { return hostpath.ReadFile(h.path(p), MaxFileBytes) }

// readDir returns the names of the entries of the host directory p, sorted,
// at most MaxDirEntries. A FIFO or file in its place is an error, not a
// wait.
func (h host) readDir(p string) ([]string, error) {
	f, err := os.OpenFile(h.path(p), os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(MaxDirEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(names) > MaxDirEntries {
		return nil, &fs.PathError{Op: "readdir", Path: h.path(p), Err: fmt.Errorf("more than %d entries", MaxDirEntries)}
	}
	slices.Sort(names)
	return names, nil
}

// readString returns the trimmed content of the host file p.
func (h host) readString(p string) (string, error) {
	b, err := h.readFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readInt returns the integer in the host file p.
func (h host) readInt(p string) (int64, error) {
	s, err := h.readString(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 0, 64)
}

// exists reports whether the host path p exists (without following a final symlink).
func (h host) exists(p string) bool {
	_, err := os.Lstat(h.path(p))
	return err == nil
}

// linkBase returns the last element of the symlink target of host path p, or
// "" when p is not a symlink or does not exist.
func (h host) linkBase(p string) string {
	t, err := os.Readlink(h.path(p))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// readBool parses a sysfs boolean ("Y", "N", "1", "0").
func (h host) readBool(p string) (bool, error) {
	s, err := h.readString(p)
	if err != nil {
		return false, err
	}
	return parseBool(s)
}

func parseBool(s string) (bool, error) {
	switch strings.ToUpper(s) {
	case "Y", "1", "YES", "ON":
		return true, nil
	case "N", "0", "NO", "OFF":
		return false, nil
	}
	return false, errors.New("not a boolean: " + strconv.Quote(s))
}

// readKeyValues parses "key: value" lines (/proc/meminfo, /proc/cpuinfo),
// stopping at the first blank line when stopAtBlank is set.
func (h host) readKeyValues(p string, stopAtBlank bool) (map[string]string, error) {
	b, err := h.readFile(p)
	if err != nil {
		return nil, err
	}
	return parseKeyValues(b, stopAtBlank), nil
}

// parseKeyValues parses "key: value" lines; the first occurrence of a key
// wins.
func parseKeyValues(b []byte, stopAtBlank bool) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), MaxFileBytes)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if stopAtBlank && len(kv) > 0 {
				break
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := kv[k]; !dup {
			kv[k] = strings.TrimSpace(v)
		}
	}
	return kv
}

// isNotExist reports whether err means a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
