package discover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2/ktesting"
)

// TestCotenancyFailsClosed: co-tenancy is safe only when the agent read
// the SMT state and every SMT leak file and none is open; anything unknown
// or unreadable is not safe, and nfd-rules turn that into
// mtscn.io/cotenancy-safe=false.
func TestCotenancyFailsClosed(t *testing.T) {
	const (
		vulns = "sys/devices/system/cpu/vulnerabilities"
		smt   = "sys/devices/system/cpu/smt"
	)
	write := func(t *testing.T, root, rel, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		change   func(t *testing.T, root string)
		wantSafe bool
		wantWhy  string
	}{
		{name: "SMT on, every leak not affected", change: func(*testing.T, string) {}, wantSafe: true},
		{name: "SMT on, Unknown: No mitigations", change: func(t *testing.T, root string) {
			write(t, root, vulns+"/mds", "Unknown: No mitigations\n")
		}, wantWhy: "mds: Unknown: No mitigations"},
		{name: "SMT on, a leak mitigated except for SMT", change: func(t *testing.T, root string) {
			write(t, root, vulns+"/l1tf", "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable\n")
		}, wantWhy: "l1tf: Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable with SMT on"},
		{name: "SMT off, a leak mitigated except for SMT", change: func(t *testing.T, root string) {
			write(t, root, smt+"/active", "0\n")
			write(t, root, vulns+"/l1tf", "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable\n")
		}, wantSafe: true},
		{name: "SMT off, a leak Vulnerable", change: func(t *testing.T, root string) {
			write(t, root, smt+"/active", "0\n")
			write(t, root, vulns+"/mmio_stale_data", "Vulnerable\n")
		}, wantWhy: "mmio_stale_data: Vulnerable"},
		{name: "smt/active unreadable", change: func(t *testing.T, root string) {
			replace(t, root, smt+"/active", "dir")
		}, wantWhy: "SMT state unknown"},
		{name: "smt/active missing, control on", change: func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, smt, "active")); err != nil {
				t.Fatal(err)
			}
		}, wantWhy: "SMT state unknown"},
		{name: "vulnerabilities directory unreadable", change: func(t *testing.T, root string) {
			replace(t, root, vulns, "fifo")
		}, wantWhy: "CPU vulnerabilities unknown"},
		{name: "vulnerabilities directory missing", change: func(t *testing.T, root string) {
			if err := os.RemoveAll(filepath.Join(root, vulns)); err != nil {
				t.Fatal(err)
			}
		}, wantWhy: "CPU vulnerabilities unknown"},
		{name: "a leak file unreadable", change: func(t *testing.T, root string) {
			replace(t, root, vulns+"/tsx_async_abort", "fifo")
		}, wantWhy: "CPU vulnerabilities unknown"},
		{name: "a leak file missing (older kernel)", change: func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, vulns, "mmio_stale_data")); err != nil {
				t.Fatal(err)
			}
		}, wantWhy: "mmio_stale_data: not reported by the kernel"},
		{name: "/proc/cpuinfo unreadable: still judged", change: func(t *testing.T, root string) {
			replace(t, root, "proc/cpuinfo", "fifo")
		}, wantSafe: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			root, opts := copyFixture(t, "intel-qat-baremetal") // SMT on, every leak "Not affected"
			tc.change(t, root)
			res := Discover(ctx, opts)
			if res.CPU == nil {
				t.Fatalf("no CPU section: %v", res.Errors)
			}
			if res.CPU.CotenancySafe != tc.wantSafe || !strings.Contains(strings.Join(res.CPU.CotenancyUnsafe, "; "), tc.wantWhy) {
				t.Errorf("cotenancySafe = %v because %q; want %v because %q", res.CPU.CotenancySafe, res.CPU.CotenancyUnsafe, tc.wantSafe, tc.wantWhy)
			}
			want := "false"
			if tc.wantSafe {
				want = "true"
			}
			if got := runRules(t, res.Features()).Labels["mtscn.io/cotenancy-safe"]; got != want {
				t.Errorf("nfd-rules set mtscn.io/cotenancy-safe=%q, want %q", got, want)
			}
		})
	}
}
