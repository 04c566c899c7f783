package discover

import (
	"maps"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// LabelCotenancySafe is set to "false" on nodes whose CPU leaks across VMs.
const LabelCotenancySafe = "mtscn.io/cotenancy-safe"

// LabelPrefix is the prefix of every label the agent sets in node-labels mode.
const LabelPrefix = "mtscn.io/"

// IsOwnedLabel reports whether the agent manages the node label key in
// node-labels mode: the fixed keys nfd-rules/ produce, the runtime prefix
// and the per-handler Kata prefix of KataLabels. Other mtscn.io/ labels (set by admins or the installer) are left
// alone.
func IsOwnedLabel(key string) bool {
	switch key {
	case configv1.LabelKVM, configv1.LabelVirtMode, configv1.LabelIOMMU, configv1.LabelQATVFIO, LabelCotenancySafe:
		return true
	}
	return strings.HasPrefix(key, configv1.LabelRuntimePrefix) || strings.HasPrefix(key, vmsize.LabelKataPrefix)
}

// KataLabels returns the per-handler labels pkg/vmsize reads a node's real
// Kata sizing from (mtscn.io/kata.<handler>.default-memory, .sizing,
// .shm-backed) for every Kata handler whose configuration was read. The
// agent publishes them in its NodeFeature's spec.labels (nfd-master copies
// them onto the Node) or, in node-labels mode, on the Node directly. Handler
// names too long for a label key are skipped.
func KataLabels(r *Result) map[string]string {
	labels := map[string]string{}
	if r.Kata == nil {
		return labels
	}
	for _, h := range r.Kata.Handlers {
		if !h.Kata || h.Error != "" || h.DefaultMemoryMiB <= 0 {
			continue
		}
		keys := map[string]string{
			vmsize.DefaultMemoryLabel(h.Name): strconv.FormatInt(h.DefaultMemoryMiB, 10),
			vmsize.SizingLabel(h.Name):        h.Sizing,
			vmsize.SharedMemoryLabel(h.Name):  strconv.FormatBool(h.ShmBacked),
		}
		valid := true
		for k := range keys {
			if len(validation.IsQualifiedName(k)) > 0 {
				valid = false
			}
		}
		if valid {
			maps.Copy(labels, keys)
		}
	}
	return labels
}
