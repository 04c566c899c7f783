package vmsize

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mtscn/mtscn/pkg/apis/config"
)

// Node labels carrying a node's real Kata configuration, one set per
// runtime handler, published by the node agent (mtscn-node, through
// nfd-rules or its node-labels fallback). When a node carries them, its
// values win over the configured profile for that handler.
//
//	mtscn.io/kata.<handler>.default-memory   default_memory: "2048" (MiB, as in Kata's TOML) or a quantity "2Gi"
//	mtscn.io/kata.<handler>.overhead-memory  runtime-rs overhead_memory: same format
//	mtscn.io/kata.<handler>.sizing           "hotplug" (Go runtime) or "static" (runtime-rs, static_sandbox_resource_mgmt)
//	mtscn.io/kata.<handler>.shm-backed       "true" when guest RAM is a /dev/shm file (QEMU + virtio-fs), else "false"
//
// Example: mtscn.io/kata.kata-qemu.default-memory=4096.
const (
	// LabelKataPrefix starts every per-handler Kata label.
	LabelKataPrefix = "mtscn.io/kata."
	// LabelSuffixDefaultMemory ends the default_memory label.
	LabelSuffixDefaultMemory = ".default-memory"
	// LabelSuffixOverheadMemory ends the overhead_memory label.
	LabelSuffixOverheadMemory = ".overhead-memory"
	// LabelSuffixSizing ends the sizing-mode label.
	LabelSuffixSizing = ".sizing"
	// LabelSuffixSharedMemory ends the /dev/shm-backed label.
	LabelSuffixSharedMemory = ".shm-backed"

	// SizingLabelHotplug and SizingLabelStatic are the values of the sizing label.
	SizingLabelHotplug = "hotplug"
	SizingLabelStatic  = "static"
)

// DefaultMemoryLabel returns the label key of handler's default_memory.
func DefaultMemoryLabel(handler string) string {
	return LabelKataPrefix + handler + LabelSuffixDefaultMemory
}

// OverheadMemoryLabel returns the label key of handler's overhead_memory.
func OverheadMemoryLabel(handler string) string {
	return LabelKataPrefix + handler + LabelSuffixOverheadMemory
}

// SizingLabel returns the label key of handler's sizing mode.
func SizingLabel(handler string) string { return LabelKataPrefix + handler + LabelSuffixSizing }

// SharedMemoryLabel returns the label key of handler's /dev/shm backing.
func SharedMemoryLabel(handler string) string {
	return LabelKataPrefix + handler + LabelSuffixSharedMemory
}

// Values are one handler's values read from a node's labels; nil fields
// were not published.
type Values struct {
	Sizing             *config.SizingMode
	DefaultMemory      *int64
	OverheadMemory     *int64
	SharedMemoryBacked *bool
}

// NodeValues are a node's own Kata values by runtime handler.
type NodeValues map[string]Values

// ParseNodeLabels reads the mtscn.io/kata.* labels of a node. Malformed
// values are skipped and reported in the returned errors (one per label);
// the rest still apply. A node without such labels gives nil.
func ParseNodeLabels(labels map[string]string) (NodeValues, []error) {
	var nv NodeValues
	var errs []error
	for k, val := range labels {
		if !strings.HasPrefix(k, LabelKataPrefix) {
			continue
		}
		rest := k[len(LabelKataPrefix):]
		dot := strings.LastIndexByte(rest, '.')
		if dot <= 0 {
			continue
		}
		handler, field := rest[:dot], rest[dot:]
		v := nv[handler]
		var err error
		switch field {
		case LabelSuffixDefaultMemory:
			v.DefaultMemory, err = parseMemory(val)
		case LabelSuffixOverheadMemory:
			v.OverheadMemory, err = parseMemory(val)
		case LabelSuffixSizing:
			v.Sizing, err = parseSizing(val)
		case LabelSuffixSharedMemory:
			var b bool
			b, err = strconv.ParseBool(val)
			if err == nil {
				v.SharedMemoryBacked = &b
			}
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node label %s=%q: %w", k, val, err))
			continue
		}
		if nv == nil {
			nv = NodeValues{}
		}
		nv[handler] = v
	}
	return nv, errs
}

// parseMemory reads "2048" as MiB (Kata's unit in configuration.toml) and
// anything else as a Kubernetes quantity ("2Gi").
func parseMemory(s string) (*int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return nil, fmt.Errorf("must not be negative")
		}
		b := n << 20
		return &b, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return nil, fmt.Errorf("want MiB as an integer (Kata's unit, e.g. 2048) or a quantity (e.g. 2Gi): %w", err)
	}
	if q.Sign() < 0 {
		return nil, fmt.Errorf("must not be negative")
	}
	b := q.Value()
	return &b, nil
}

func parseSizing(s string) (*config.SizingMode, error) {
	var m config.SizingMode
	switch strings.ToLower(s) {
	case SizingLabelHotplug:
		m = config.SizingHotplug
	case SizingLabelStatic:
		m = config.SizingStatic
	default:
		return nil, fmt.Errorf("want %q or %q", SizingLabelHotplug, SizingLabelStatic)
	}
	return &m, nil
}
