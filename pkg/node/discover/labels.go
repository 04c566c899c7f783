package discover

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/nodefeatures"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// LabelCotenancySafe is set to "false" on nodes whose CPU leaks across VMs.
const LabelCotenancySafe = "mtscn.io/cotenancy-safe"

// LabelPrefix is the prefix of every label the agent sets in node-labels mode.
const LabelPrefix = "mtscn.io/"

// sandboxRuntimeType matches the runtime types nfd-rules/runtimes.yaml labels.
var sandboxRuntimeType = regexp.MustCompile(`^io\.containerd\.(kata|runsc)`)

// Labels computes, from the raw features, the node labels that the
// NodeFeatureRules in nfd-rules/ produce (the --publish=node-labels fallback
// for clusters without NFD). The rules stay the reference: a test feeds the
// features of every fixture through NFD's rule engine and compares.
func Labels(f *nfdv1alpha1.Features) map[string]string {
	labels := map[string]string{}
	attr := func(feature, element string) (string, bool) {
		s, ok := f.Attributes[feature]
		if !ok {
			return "", false
		}
		v, ok := s.Elements[element]
		return v, ok
	}
	isTrue := func(feature, element string) bool { v, _ := attr(feature, element); return v == "true" }
	isFalse := func(feature, element string) bool { v, _ := attr(feature, element); return v == "false" }

	if isTrue(nodefeatures.KVM, nodefeatures.KVMUsable) {
		labels[configv1.LabelKVM] = "true"
		switch module, _ := attr(nodefeatures.KVM, nodefeatures.KVMModule); module {
		case nodefeatures.ModuleKVMPVM:
			labels[configv1.LabelVirtMode] = ModePVM
		case nodefeatures.ModuleKVMIntel, nodefeatures.ModuleKVMAMD:
			if isTrue(nodefeatures.CPU, nodefeatures.CPUHypervisor) {
				labels[configv1.LabelVirtMode] = ModeNested
			} else if isFalse(nodefeatures.CPU, nodefeatures.CPUHypervisor) {
				labels[configv1.LabelVirtMode] = ModeHardware
			}
		}
	}
	if isTrue(nodefeatures.IOMMU, nodefeatures.IOMMUEnabled) {
		labels[configv1.LabelIOMMU] = "true"
	}
	for _, q := range f.Instances[nodefeatures.QAT].Elements {
		a := q.Attributes
		if _, group := a[nodefeatures.QATIOMMUGroup]; group && a[nodefeatures.QATVendor] == QATVendor &&
			slices.Contains(QATVirtualFunctions, a[nodefeatures.QATDevice]) && a[nodefeatures.QATDriver] == nodefeatures.DriverVFIOPCI {
			labels[configv1.LabelQATVFIO] = "true"
		}
	}
	if isTrue(nodefeatures.CPU, nodefeatures.CPUSMTActive) {
		for _, leak := range SMTLeaks {
			v, ok := attr(nodefeatures.Vulnerability, leak)
			if ok && (ParseVulnerability(leak, v).State == VulnVulnerable || ParseVulnerability(leak, v).SMTVulnerable) {
				labels[LabelCotenancySafe] = "false"
			}
		}
	}
	for _, r := range f.Instances[nodefeatures.Runtime].Elements {
		h := r.Attributes[nodefeatures.RuntimeHandler]
		if h != "" && sandboxRuntimeType.MatchString(r.Attributes[nodefeatures.RuntimeType]) {
			labels[configv1.LabelRuntimePrefix+h] = "true"
		}
	}
	return labels
}

// IsOwnedLabel reports whether the agent manages the node label key in
// node-labels mode: the fixed keys Labels can produce, the runtime prefix
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
