package discover

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2/ktesting"
)

// TestRealKVM opens this machine's /dev/kvm with the real ioctls.
func TestRealKVM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("this machine has no /dev/kvm (%v): the KVM probe is only tested on fixture trees here", err)
	}
	p, err := ProbeKVMDevice("/dev/kvm")
	if err != nil {
		t.Fatalf("/dev/kvm exists but the probe failed: %v", err)
	}
	if p.APIVersion != KVMAPIVersion || !p.CreateVM {
		t.Errorf("probe = %+v, want API version %d and a created VM", p, KVMAPIVersion)
	}
}

// TestRealHost discovers this machine and checks the result against what
// the kernel says directly.
func TestRealHost(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	res := Discover(ctx, Options{})
	for _, s := range []string{SourceCPU, SourceKVM, SourceIOMMU, SourcePCI, SourceMemory} {
		if msg, ok := res.Errors[s]; ok {
			t.Errorf("source %s failed on the real host: %s", s, msg)
		}
	}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		if !res.KVM.CreateVM || res.KVM.APIVersion != KVMAPIVersion {
			t.Errorf("/dev/kvm exists but the probe failed: %+v", res.KVM)
		}
		// Kata also needs vhost-vsock: usable exactly when it opens.
		_, vsockErr := os.Stat("/dev/vhost-vsock")
		if res.KVM.IsUsable() != (vsockErr == nil) || res.KVM.VhostVsock != (vsockErr == nil) {
			t.Errorf("/dev/vhost-vsock present=%v: kvm %+v", vsockErr == nil, res.KVM)
		}
		// On a VM with kvm_pvm and no VMX/SVM (the machines mtscn is
		// developed on) the mode must be pvm.
		_, pvm := os.Stat("/sys/module/kvm_pvm")
		flags := strings.Join(res.CPU.VirtFlags, " ")
		if pvm == nil && !strings.Contains(flags, "vmx") && !strings.Contains(flags, "svm") && res.KVM.IsUsable() && res.KVM.Mode != ModePVM {
			t.Errorf("kvm_pvm loaded without VMX/SVM: want mode %s, got %s", ModePVM, res.KVM.Mode)
		}
	} else if res.KVM.Mode != ModeNone {
		t.Errorf("no /dev/kvm: want mode %s, got %s", ModeNone, res.KVM.Mode)
	}
	files, _ := filepath.Glob("/sys/devices/system/cpu/vulnerabilities/*")
	if len(files) != len(res.CPU.Vulnerabilities) {
		t.Errorf("%d vulnerability files, %d parsed", len(files), len(res.CPU.Vulnerabilities))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := res.CPU.Vulnerabilities[filepath.Base(f)]
		if got.Detail != strings.TrimSpace(string(b)) || got.State == "" {
			t.Errorf("vulnerability %s: file says %q, discovered %+v", filepath.Base(f), strings.TrimSpace(string(b)), got)
		}
	}
	if res.Memory.TotalBytes <= 0 || res.Memory.ShmBytes <= 0 {
		t.Errorf("memory: %+v", res.Memory)
	}
}

// BenchmarkDiscover measures a full discovery on this machine and on the
// largest fixture (bare-metal Intel with a QAT PF and 16 VFs, 120 IOMMU
// groups, containerd drop-ins and two Kata configurations).
func BenchmarkDiscover(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"real-host", Options{}},
		{"fixture-intel-qat-baremetal", fixtureOptions("intel-qat-baremetal")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background() // klog's default logger: V(4) is off, as in production
			b.ReportAllocs()
			for b.Loop() {
				Discover(ctx, bc.opts)
			}
		})
	}
}
