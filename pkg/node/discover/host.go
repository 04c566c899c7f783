package discover

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// host resolves host paths under a root directory.
type host struct{ root string }

// path returns the host path p under the root.
func (h host) path(p string) string { return filepath.Join(h.root, p) }

// readString returns the trimmed content of the host file p.
func (h host) readString(p string) (string, error) {
	b, err := os.ReadFile(h.path(p))
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
	f, err := os.Open(h.path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
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
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return kv, sc.Err()
}

// isNotExist reports whether err means a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
