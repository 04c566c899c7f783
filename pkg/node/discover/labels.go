package discover

import (
	"maps"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// IsOwnedLabel reports whether the agent manages the node label key in
// node-labels mode: the fixed keys nfd-rules/ produce, the runtime prefix
// and the per-handler Kata prefix of KataLabels. Other mtscn.io/ labels (set by admins or the installer) are left
// alone.
func IsOwnedLabel(key string) bool {
	switch key {
	case wellknown.LabelKVM, wellknown.LabelVirtMode, wellknown.LabelIOMMU, wellknown.LabelQATVFIO, wellknown.LabelCotenancySafe:
		return true
	}
	return strings.HasPrefix(key, wellknown.LabelRuntimePrefix) || strings.HasPrefix(key, wellknown.LabelKataPrefix) ||
		strings.HasPrefix(key, wellknown.LabelOverheadPrefix)
}

// IsOwnedResource reports whether the agent manages the extended resource
// in node-labels mode: the two nfd-rules/ advertise
// (mtscn.io/sandbox-memory, mtscn.io/sandboxes). The agent sets them in its
// Node's status capacity and removes them when the rules stop producing
// them; every other resource is left alone.
func IsOwnedResource(name string) bool {
	return name == wellknown.ResourceSandboxMemory || name == wellknown.ResourceSandboxes
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
			wellknown.DefaultMemoryLabel(h.Name): strconv.FormatInt(h.DefaultMemoryMiB, 10),
			wellknown.SizingLabel(h.Name):        h.Sizing,
			wellknown.SharedMemoryLabel(h.Name):  strconv.FormatBool(h.ShmBacked),
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
