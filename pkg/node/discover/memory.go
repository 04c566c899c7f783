package discover

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sources of the /dev/shm size.
const (
	ShmFromStatfs  = "statfs"
	ShmFromMounts  = "mounts"
	ShmFromDefault = "default"
)

// Memory describes the memory the node can give to VM guests.
type Memory struct {
	// TotalBytes is MemTotal from /proc/meminfo.
	TotalBytes int64 `json:"totalBytes"`
	// HugePages lists each hugepage size with its pool.
	HugePages []HugePages `json:"hugePages"`
	// HugePagesBytes is the memory reserved in all hugepage pools.
	HugePagesBytes int64 `json:"hugePagesBytes"`
	// ShmBytes is the size of the tmpfs at /dev/shm, where QEMU with
	// virtio-fs puts guest RAM.
	ShmBytes int64 `json:"shmBytes"`
	// ShmSource says how ShmBytes was found: statfs of <root>/dev/shm when
	// it is a tmpfs, the size= option in <root>/proc/1/mounts, or the kernel
	// default (half of MemTotal).
	ShmSource string `json:"shmSource"`
	// GuestMemoryBytes is the mtscn.io/sandbox-memory capacity: /dev/shm
	// capped by the memory outside the hugepage pools (a tmpfs cannot use
	// hugepage-reserved memory, and may be sized above RAM).
	GuestMemoryBytes int64 `json:"guestMemoryBytes"`
}

// HugePages is one hugepage pool.
type HugePages struct {
	SizeBytes int64 `json:"sizeBytes"`
	Total     int64 `json:"total"`
	Free      int64 `json:"free"`
}

func discoverMemory(h host, statfs func(string) (int64, bool, error)) (*Memory, error) {
	m := &Memory{HugePages: []HugePages{}}
	kv, err := h.readKeyValues("/proc/meminfo", false)
	if err != nil {
		return nil, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	m.TotalBytes, err = parseKiB(kv["MemTotal"])
	if err != nil {
		return nil, fmt.Errorf("parsing MemTotal in /proc/meminfo: %w", err)
	}
	var errs []string
	const hp = "/sys/kernel/mm/hugepages"
	pools, err := h.readDir(hp)
	if err != nil && !isNotExist(err) {
		errs = append(errs, fmt.Sprintf("reading %s: %v", hp, err))
	}
	for _, p := range pools {
		size, ok := strings.CutPrefix(p, "hugepages-")
		if !ok {
			continue
		}
		sizeBytes, err := parseKiB(size)
		if err != nil {
			errs = append(errs, fmt.Sprintf("parsing hugepage size %s: %v", p, err))
			continue
		}
		pool := HugePages{SizeBytes: sizeBytes}
		pool.Total, _ = h.readInt(hp + "/" + p + "/nr_hugepages")
		pool.Free, _ = h.readInt(hp + "/" + p + "/free_hugepages")
		bytes, ok := mulNonNeg(pool.Total, pool.SizeBytes)
		if !ok || m.HugePagesBytes+bytes < 0 {
			errs = append(errs, fmt.Sprintf("hugepage pool %s: %d pages of %d bytes is out of range", p, pool.Total, pool.SizeBytes))
			continue
		}
		m.HugePages = append(m.HugePages, pool)
		m.HugePagesBytes += bytes
	}

	size, tmpfs, err := statfs(h.path("/dev/shm"))
	switch {
	case err == nil && tmpfs:
		m.ShmBytes, m.ShmSource = size, ShmFromStatfs
	default:
		// /dev/shm of the host root is not the host's tmpfs (not mounted
		// into the agent's container, or a fixture tree): use its mount
		// options, then the kernel default.
		if b, ok := shmFromMounts(h, m.TotalBytes); ok {
			m.ShmBytes, m.ShmSource = b, ShmFromMounts
		} else {
			m.ShmBytes, m.ShmSource = m.TotalBytes/2, ShmFromDefault
		}
	}
	m.GuestMemoryBytes = max(min(m.ShmBytes, m.TotalBytes-m.HugePagesBytes), 0)
	if len(errs) > 0 {
		return m, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return m, nil
}

// shmFromMounts reads the size= option of /dev/shm in the host's init mount
// namespace (<root>/proc/1/mounts, falling back to <root>/proc/mounts).
func shmFromMounts(h host, memTotal int64) (int64, bool) {
	for _, p := range []string{"/proc/1/mounts", "/proc/mounts"} {
		b, err := h.readFile(p)
		if err != nil {
			continue
		}
		if n, ok := parseShmMount(string(b), memTotal); ok {
			return n, true
		}
	}
	return 0, false
}

// parseShmMount returns the size= of the tmpfs mounted at /dev/shm in a
// mounts table (the format of /proc/<pid>/mounts).
func parseShmMount(mounts string, memTotal int64) (int64, bool) {
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "/dev/shm" || f[2] != "tmpfs" {
			continue
		}
		for _, opt := range strings.Split(f[3], ",") {
			if v, ok := strings.CutPrefix(opt, "size="); ok {
				if n, err := parseSize(v, memTotal); err == nil {
					return n, true
				}
			}
		}
	}
	return 0, false
}

// mulNonNeg returns a*b for non-negative a and b, and false when either
// is negative or the product overflows int64.
func mulNonNeg(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

// parseKiB parses "24684096 kB" or "2048kB" into bytes.
func parseKiB(s string) (int64, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "kB"))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	b, ok := mulNonNeg(n, 1024)
	if !ok {
		return 0, fmt.Errorf("%d kB is out of range", n)
	}
	return b, nil
}

// parseSize parses a tmpfs size= value: bytes with an optional k, m or g
// suffix, or a percentage of memTotal.
func parseSize(s string, memTotal int64) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.ParseInt(pct, 10, 64)
		if err != nil {
			return 0, err
		}
		if n < 0 || n > 100000 {
			return 0, fmt.Errorf("size %s: percentage out of range", s)
		}
		q, ok := mulNonNeg(memTotal/100, n)
		if !ok {
			return 0, fmt.Errorf("size %s of %d bytes is out of range", s, memTotal)
		}
		return q + (memTotal%100)*n/100, nil
	}
	mult := int64(1)
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	b, ok := mulNonNeg(n, mult)
	if !ok {
		return 0, fmt.Errorf("size %s is out of range", s)
	}
	return b, nil
}
