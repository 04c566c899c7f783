package discover

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Fuzz targets for every parser of host files discovery owns (containerd's
// TOML is fuzzed in pkg/node/containerd). `make fuzz-short` runs each for a
// few seconds; `go test -fuzz FuzzX ./pkg/node/discover/` runs one longer.

func FuzzParseVulnerability(f *testing.F) {
	for _, s := range []string{"Not affected", "Vulnerable", "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable",
		"Unknown: No mitigations", "Mitigation: Clear CPU buffers; SMT Host state unknown", "", "\x00\xff"} {
		f.Add("l1tf", s)
	}
	f.Fuzz(func(t *testing.T, name, content string) {
		v := ParseVulnerability(name, content)
		if !slices.Contains([]string{VulnNotAffected, VulnMitigated, VulnVulnerable, VulnUnknown}, v.State) {
			t.Fatalf("state %q", v.State)
		}
		if v.Detail != strings.TrimSpace(content) {
			t.Fatalf("detail %q of %q", v.Detail, content)
		}
		// Fail closed: whatever the content of an SMT leak file, the
		// verdict is safe only for "Not affected" or a full mitigation.
		smtOn := true
		c := &CPU{SMTActive: &smtOn, Vulnerabilities: map[string]Vulnerability{}}
		for _, leak := range SMTLeaks {
			c.Vulnerabilities[leak] = Vulnerability{State: VulnNotAffected, Detail: "Not affected"}
		}
		c.Vulnerabilities["mds"] = ParseVulnerability("mds", content)
		safe := len(judgeCotenancy(c, true)) == 0
		detail := strings.TrimSpace(content)
		if safe && !strings.HasPrefix(detail, "Not affected") && !strings.HasPrefix(detail, "Mitigation") {
			t.Fatalf("mds %q judged safe", content)
		}
		if safe && (strings.Contains(detail, "SMT vulnerable") || strings.Contains(detail, "Host state unknown")) {
			t.Fatalf("mds %q judged safe with SMT on", content)
		}
	})
}

func FuzzParseCPUInfo(f *testing.F) {
	f.Add([]byte("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nflags\t\t: fpu vmx hypervisor\n\nprocessor\t: 1\n"))
	f.Add([]byte("flags: \n"))
	f.Add([]byte(":::\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseCPUInfo(b)
		if err == nil && len(info.flags) == 0 {
			t.Fatal("no error without flags")
		}
	})
}

func FuzzKataConfig(f *testing.F) {
	f.Add([]byte("[hypervisor.qemu]\ndefault_memory = 2048\ndefault_vcpus = 1\nshared_fs = \"virtio-fs\"\n[runtime]\nstatic_sandbox_resource_mgmt = false\n"))
	f.Add([]byte("[hypervisor.clh]\ndefault_memory = 17592186044416\n"))
	f.Add([]byte("[hypervisor.qemu]\ndefault_vcpus = 1e300\n"))
	f.Add([]byte("hypervisor = 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hd := Handler{Name: "kata-qemu", RuntimeType: "io.containerd.kata-qemu.v2", Kata: true}
		err := parseKataConfig(b, &hd)
		if hd.DefaultMemoryMiB < 0 || hd.DefaultMemoryMiB > MaxDefaultMemoryMiB || hd.DefaultVCPUs < 0 {
			t.Fatalf("out-of-range sizing accepted: %+v (err %v)", hd, err)
		}
		// Whatever was read, the capacity is computed without panicking
		// and stays within its bounds.
		usable := true
		r := &Result{
			KVM:    &KVM{Usable: &usable},
			Memory: &Memory{TotalBytes: 1 << 40, GuestMemoryBytes: 1 << 39, HugePagesBytes: 1 << 30},
			Kata:   &Kata{Handlers: []Handler{hd}},
		}
		if c := computeCapacity(r, DefaultMaxSandboxes); c.Sandboxes < 0 || c.Sandboxes > DefaultMaxSandboxes {
			t.Fatalf("sandboxes %d", c.Sandboxes)
		}
	})
}

func FuzzPCIID(f *testing.F) {
	for _, s := range []string{"0x8086\n", "0x4941", "0x0b4000", "", "0x", "zz", "0x123456789"} {
		f.Add(s, "0x0b4000", true)
	}
	f.Fuzz(func(t *testing.T, device, class string, physfn bool) {
		d := pciID(device)
		if d != "" && (len(d) > 8 || strings.Trim(d, "0123456789abcdef") != "") {
			t.Fatalf("pciID(%q) = %q", device, d)
		}
		switch fn := qatFunction(d, pciID(class), physfn); fn {
		case "", FunctionPF, FunctionVF:
		default:
			t.Fatalf("function %q", fn)
		}
	})
}

func FuzzMemoryFiles(f *testing.F) {
	f.Add([]byte("MemTotal:       24684096 kB\nHugePages_Total: 0\n"), "tmpfs /dev/shm tmpfs rw,size=1048576k 0 0\n")
	f.Add([]byte("MemTotal: 9223372036854775807 kB\n"), "tmpfs /dev/shm tmpfs rw,size=100000% 0 0\n")
	f.Add([]byte("MemTotal: -1 kB\n"), "tmpfs /dev/shm tmpfs size=9223372036854775807g\n")
	f.Fuzz(func(t *testing.T, meminfo []byte, mounts string) {
		kv := parseKeyValues(meminfo, false)
		total, err := parseKiB(kv["MemTotal"])
		if err == nil && total < 0 {
			t.Fatalf("negative MemTotal %d", total)
		}
		if n, ok := parseShmMount(mounts, max(total, 0)); ok && n < 0 {
			t.Fatalf("negative /dev/shm size %d from %q", n, mounts)
		}
	})
}

// TestFuzzTargetsListed keeps hack/make/fuzz.mk in step with the fuzz
// targets of the repository, so `make test` runs every one.
func TestFuzzTargetsListed(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "hack", "make", "fuzz.mk"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		for _, m := range decl.FindAllSubmatch(b, -1) {
			if want := "./" + filepath.ToSlash(rel) + ":" + string(m[1]); !strings.Contains(string(mk), want) {
				t.Errorf("%s is not in hack/make/fuzz.mk's FUZZ_TARGETS: make test would never run it", want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
