package discover

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

// runRules runs nfd-rules/ through NFD's rule engine as nfd-master does.
func runRules(t *testing.T, features *nfdv1alpha1.Features) nfdrules.Output {
	t.Helper()
	rules, err := nfdrules.Load()
	if err != nil {
		t.Fatal(err)
	}
	out, err := nfdrules.Evaluate(rules, features)
	if err != nil {
		t.Errorf("nfd-master would drop outputs: %v", err)
	}
	return out
}

// TestFixturesThroughNFDRules feeds each fixture's NodeFeature features
// through NFD's rule engine with nfd-rules/ and checks the labels and
// extended resources the scheduler plugins will see, and that the agent
// owns every label (node-labels mode must be able to remove it).
func TestFixturesThroughNFDRules(t *testing.T) {
	tests := []struct {
		fixture string
		want    nfdrules.Output
	}{
		{"intel-qat-baremetal", nfdrules.Output{
			Labels: map[string]string{
				"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true", "mtscn.io/qat-vfio": "true",
				"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-clh": "true", "mtscn.io/cotenancy-safe": "true",
			},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "270247219200", "mtscn.io/sandboxes": "110"},
		}},
		{"amd-sev-snp", nfdrules.Output{
			Labels: map[string]string{
				"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/iommu": "true",
				"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-qemu-snp": "true", "mtscn.io/cotenancy-safe": "true",
			},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "405736701952", "mtscn.io/sandboxes": "110"},
		}},
		{"nested-cloud-vm", nfdrules.Output{
			// "SMT Host state unknown": a VM cannot tell, so not safe.
			Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "nested", "mtscn.io/runtime.kata-qemu": "true", "mtscn.io/cotenancy-safe": "false"},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "8384286720", "mtscn.io/sandboxes": "3"},
		}},
		{"vm-no-kvm", nfdrules.Output{
			Labels:            map[string]string{"mtscn.io/cotenancy-safe": "false"},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "0"},
		}},
		{"smt-l1tf-vulnerable", nfdrules.Output{
			Labels: map[string]string{
				"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "hardware", "mtscn.io/cotenancy-safe": "false",
				"mtscn.io/runtime.kata-qemu": "true", "mtscn.io/runtime.kata-fc": "true", "mtscn.io/runtime.runsc": "true",
			},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "100663296000", "mtscn.io/sandboxes": "32"},
		}},
		// KVM through kvm_pvm but no vhost_vsock (the development machine):
		// no Kata VM can start. TestPVMWithVhostVsock loads the module.
		{"pvm-cloud-vm", nfdrules.Output{
			Labels:            map[string]string{"mtscn.io/cotenancy-safe": "true"},
			ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "0", "mtscn.io/sandboxes": "0"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			res := Discover(ctx, fixtureOptions(tc.fixture))
			got := runRules(t, res.Features())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("nfd-rules on %s (-want,+got):\n%s", tc.fixture, diff)
			}
			for k := range got.Labels {
				if !IsOwnedLabel(k) {
					t.Errorf("rule label %s is not owned by the agent: node-labels mode would never remove it", k)
				}
			}
			for k := range got.ExtendedResources {
				if !IsOwnedResource(k) {
					t.Errorf("rule extended resource %s is not owned by the agent: node-labels mode would never set or remove it", k)
				}
			}
		})
	}
}

// TestPVMWithVhostVsock is the pvm-cloud-vm fixture with /dev/vhost-vsock
// (vhost_vsock loaded): KVM through kvm_pvm is usable for Kata VMs.
func TestPVMWithVhostVsock(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", "pvm-cloud-vm"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev", "vhost-vsock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := fixtureOptions("pvm-cloud-vm")
	opts.HostRoot = root
	got := runRules(t, Discover(ctx, opts).Features())
	want := nfdrules.Output{
		Labels:            map[string]string{"mtscn.io/kvm": "true", "mtscn.io/virt-mode": "pvm", "mtscn.io/cotenancy-safe": "true"},
		ExtendedResources: map[string]string{"mtscn.io/sandbox-memory": "25276514304", "mtscn.io/sandboxes": "11"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nfd-rules on pvm-cloud-vm with vhost-vsock (-want,+got):\n%s", diff)
	}
}

// TestKataLabels checks the per-handler sizing labels and that pkg/vmsize
// parses them back into the fixture's values.
func TestKataLabels(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	got := KataLabels(Discover(ctx, fixtureOptions("amd-sev-snp")))
	want := map[string]string{
		"mtscn.io/kata.kata-qemu.default-memory":     "2048",
		"mtscn.io/kata.kata-qemu.sizing":             "hotplug",
		"mtscn.io/kata.kata-qemu.shm-backed":         "true",
		"mtscn.io/kata.kata-qemu-snp.default-memory": "2048",
		"mtscn.io/kata.kata-qemu-snp.sizing":         "static",
		"mtscn.io/kata.kata-qemu-snp.shm-backed":     "false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("KataLabels (-want,+got):\n%s", diff)
	}
	values, errs := vmsize.ParseNodeLabels(got)
	if len(errs) > 0 {
		t.Fatalf("vmsize cannot parse the agent's labels: %v", errs)
	}
	if v := values["kata-qemu-snp"]; v.DefaultMemory == nil || *v.DefaultMemory != 2048<<20 || v.Sizing == nil || *v.Sizing != config.SizingStatic {
		t.Errorf("vmsize read kata-qemu-snp as %+v, want 2Gi default memory and static sizing", v)
	}
	for k := range got {
		if !IsOwnedLabel(k) {
			t.Errorf("label %s is not owned by the agent: node-labels mode would never remove it", k)
		}
	}
	// A handler whose configuration cannot be read publishes nothing.
	if got := KataLabels(Discover(ctx, fixtureOptions("smt-l1tf-vulnerable"))); got["mtscn.io/kata.kata-fc.sizing"] != "" {
		t.Errorf("kata-fc has no readable configuration: want no labels, got %v", got)
	}
}

// TestRealHostThroughNFDRules runs this machine's features through
// nfd-rules: the kvm and virt-mode labels must agree with discovery.
func TestRealHostThroughNFDRules(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	res := Discover(ctx, Options{})
	got := runRules(t, res.Features())
	want := map[string]string{}
	if res.KVM.IsUsable() {
		want["mtscn.io/kvm"] = "true"
		want["mtscn.io/virt-mode"] = res.KVM.Mode
	}
	for _, k := range []string{"mtscn.io/kvm", "mtscn.io/virt-mode"} {
		if got.Labels[k] != want[k] {
			t.Errorf("label %s: rules say %q, discovery says %q (kvm %+v)", k, got.Labels[k], want[k], res.KVM)
		}
	}
}
