package vmsize

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// The per-handler Kata labels (mtscn.io/kata.<handler>.*) and observed-overhead
// labels (mtscn.io/overhead.<handler>.*) are defined in
// pkg/wellknown (kata.go, overhead.go); ParseNodeLabels reads them.

// Values are one handler's values read from a node's labels; nil fields
// were not published.
type Values struct {
	Sizing             *config.SizingMode
	DefaultMemory      *int64
	OverheadMemory     *int64
	SharedMemoryBacked *bool
	// ObservedOverhead is the p95 host overhead the node agent measured
	// for the handler (mtscn.io/overhead.<handler>.observed-memory), and
	// ObservedSamples how many samples it rests on.
	ObservedOverhead *int64
	ObservedSamples  *int
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
		var rest string
		switch {
		case strings.HasPrefix(k, wellknown.LabelKataPrefix):
			rest = k[len(wellknown.LabelKataPrefix):]
		case strings.HasPrefix(k, wellknown.LabelOverheadPrefix):
			rest = k[len(wellknown.LabelOverheadPrefix):]
		default:
			continue
		}
		overheadLabel := strings.HasPrefix(k, wellknown.LabelOverheadPrefix)
		dot := strings.LastIndexByte(rest, '.')
		if dot <= 0 {
			continue
		}
		handler, field := rest[:dot], rest[dot:]
		v := nv[handler]
		var err error
		switch {
		case overheadLabel && field == wellknown.LabelSuffixObservedMemory:
			v.ObservedOverhead, err = parseMemory(val)
		case overheadLabel && field == wellknown.LabelSuffixObservedSamples:
			var n int
			n, err = strconv.Atoi(val)
			if err == nil && n < 0 {
				err = fmt.Errorf("must not be negative")
			}
			if err == nil {
				v.ObservedSamples = &n
			}
		case overheadLabel:
			continue
		}
		if overheadLabel {
			if err != nil {
				errs = append(errs, fmt.Errorf("node label %s=%q: %w", k, val, err))
				continue
			}
			if nv == nil {
				nv = NodeValues{}
			}
			nv[handler] = v
			continue
		}
		switch field {
		case wellknown.LabelSuffixDefaultMemory:
			v.DefaultMemory, err = parseMemory(val)
		case wellknown.LabelSuffixOverheadMemory:
			v.OverheadMemory, err = parseMemory(val)
		case wellknown.LabelSuffixSizing:
			v.Sizing, err = parseSizing(val)
		case wellknown.LabelSuffixSharedMemory:
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
	case wellknown.SizingHotplug:
		m = config.SizingHotplug
	case wellknown.SizingStatic:
		m = config.SizingStatic
	default:
		return nil, fmt.Errorf("want %q or %q", wellknown.SizingHotplug, wellknown.SizingStatic)
	}
	return &m, nil
}
