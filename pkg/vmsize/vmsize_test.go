package vmsize

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

const mib = int64(1) << 20

// gvisorMeasured is the runsc/gvisor profile's default hostOverhead: what a
// one-container gVisor pod cost the real node of `make e2e` beyond its
// requests, the largest p95 the node agent published there (41 and 42 MiB
// over three runs; the test's own figure 39.7-40.9 MiB per pod: about 24 MiB
// of Sentry and gofer in the pod cgroup plus 17 MiB in the two shims and
// their runsc helpers outside it). Sources: test/e2e/README.md ("Measured")
// and docs/vm-footprint.md ("gVisor").
const gvisorMeasured = 42 * mib

func mem(s string) map[v1.ResourceName]string {
	return map[v1.ResourceName]string{v1.ResourceMemory: s}
}

func overhead(s string) v1.ResourceList {
	return v1.ResourceList{v1.ResourceMemory: resource.MustParse(s)}
}

func kata(handler string) tenancy.Runtime {
	return tenancy.Runtime{RuntimeClassName: handler, Handler: handler, Sandboxed: true}
}

func defaultModel(t *testing.T, mutate func(*config.SandboxOverheadArgs)) *Model {
	t.Helper()
	args, err := DefaultArgs()
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(args)
	}
	return NewModel(args)
}

// vm builds the expected footprint of an on-node VM from its terms in MiB.
func vm(sizing config.SizingMode, base, limits, host, pinned, floor int64, ratio float64, shm bool) Footprint {
	f := Footprint{VM: true, Sizing: sizing, BaseMemory: base * mib, Limits: limits * mib, Host: host * mib,
		Pinned: pinned * mib, Floor: floor * mib, Ratio: ratio}
	f.Guest = f.BaseMemory + f.Limits
	counted := f.Guest
	if ratio > 1 {
		counted = int64(float64(f.Guest)/ratio + 0.999999)
	}
	f.VMCommitted = counted + f.Host + f.Pinned
	f.Committed = max(f.VMCommitted, f.Floor)
	if shm {
		f.SharedMemory = counted
	}
	return f
}

func noVM(floor int64) Footprint {
	return Footprint{Ratio: 1, Floor: floor * mib, Committed: floor * mib}
}

func TestPodFootprint(t *testing.T) {
	qemuPod := st.MakePod().Name("p").Res(mem("512Mi")).Overhead(overhead("320Mi")).Obj()
	tests := []struct {
		name   string
		pod    *v1.Pod
		rt     tenancy.Runtime
		nv     NodeValues
		mutate func(*config.SandboxOverheadArgs)
		want   Footprint
		// wantCommittedMiB double-checks the headline figure by hand.
		wantCommittedMiB int64
	}{
		{
			name:             "runc pod commits requests + overhead",
			pod:              st.MakePod().Req(mem("512Mi")).Obj(),
			want:             noVM(512),
			wantCommittedMiB: 512,
		},
		{
			name:             "kata-qemu hotplug: default_memory + limits + VMM",
			pod:              qemuPod,
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 512, 96, 0, 832, 1, true),
			wantCommittedMiB: 2656,
		},
		{
			name:             "kata-qemu without limits boots default_memory only",
			pod:              st.MakePod().Req(mem("1Gi")).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 0, 96, 0, 1344, 1, true),
			wantCommittedMiB: 2144,
		},
		{
			name:             "container without a limit adds 0 to the guest",
			pod:              st.MakePod().Res(mem("512Mi")).Req(mem("256Mi")).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 512, 96, 0, 1088, 1, true),
			wantCommittedMiB: 2656,
		},
		{
			name:             "kata-clh hotplug is not shm-backed",
			pod:              st.MakePod().Res(mem("1Gi")).Overhead(overhead("130Mi")).Obj(),
			rt:               kata("kata-clh"),
			want:             vm(config.SizingHotplug, 2048, 1024, 64, 0, 1154, 1, false),
			wantCommittedMiB: 3136,
		},
		{
			name:             "kata-fc sizes like the Go runtime (static_sandbox_resource_mgmt adds limits at boot)",
			pod:              st.MakePod().Res(mem("512Mi")).Overhead(overhead("130Mi")).Obj(),
			rt:               kata("kata-fc"),
			want:             vm(config.SizingHotplug, 2048, 512, 32, 0, 642, 1, false),
			wantCommittedMiB: 2592,
		},
		{
			name:             "runtime-rs static with limits: limits + overhead_memory, floor wins when requests = limits",
			pod:              qemuPod,
			rt:               kata("kata-qemu-runtime-rs"),
			want:             vm(config.SizingStatic, 32, 512, 96, 0, 832, 1, true),
			wantCommittedMiB: 832,
		},
		{
			name:             "runtime-rs static without limits boots default_memory",
			pod:              st.MakePod().Containers([]v1.Container{st.MakeContainer().Name("c").Obj()}).Obj(),
			rt:               kata("kata-qemu-runtime-rs"),
			want:             vm(config.SizingStatic, 2048, 0, 96, 0, 0, 1, true),
			wantCommittedMiB: 2144,
		},
		{
			name: "runtime-rs static with a 4Gi limit and 256Mi request",
			pod: func() *v1.Pod {
				c := st.MakeContainer().Name("c").Obj()
				c.Resources = v1.ResourceRequirements{Requests: overhead("256Mi"), Limits: overhead("4Gi")}
				return st.MakePod().Containers([]v1.Container{c}).Overhead(overhead("320Mi")).Obj()
			}(),
			rt:               kata("kata-qemu-runtime-rs"),
			want:             vm(config.SizingStatic, 32, 4096, 96, 0, 576, 1, true),
			wantCommittedMiB: 4224,
		},
		{
			name:             "dragonball static",
			pod:              st.MakePod().Res(mem("2Gi")).Overhead(overhead("130Mi")).Obj(),
			rt:               kata("kata-dragonball"),
			want:             vm(config.SizingStatic, 32, 2048, 64, 0, 2178, 1, false),
			wantCommittedMiB: 2178,
		},
		{
			name:             "TDX static with 128Mi overhead_memory; the 2Gi podFixed is the floor",
			pod:              st.MakePod().Res(mem("1Gi")).Overhead(overhead("2Gi")).Obj(),
			rt:               kata("kata-qemu-tdx"),
			want:             vm(config.SizingStatic, 128, 1024, 96, 0, 3072, 1, false),
			wantCommittedMiB: 3072,
		},
		{
			name:             "SNP static with a 4Gi limit",
			pod:              st.MakePod().Res(mem("4Gi")).Overhead(overhead("2Gi")).Obj(),
			rt:               kata("kata-qemu-snp"),
			want:             vm(config.SizingStatic, 128, 4096, 96, 0, 6144, 1, false),
			wantCommittedMiB: 6144,
		},
		{
			name:             "peer pod runs off the node: requests + overhead only",
			pod:              st.MakePod().Res(mem("4Gi")).Overhead(overhead("120Mi")).Obj(),
			rt:               tenancy.Runtime{Handler: "kata-remote", Sandboxed: true, OffNode: true},
			want:             noVM(4216),
			wantCommittedMiB: 4216,
		},
		{
			name:             "sandboxed handler without a VM profile commits requests + overhead",
			pod:              st.MakePod().Res(mem("1Gi")).Obj(),
			rt:               kata("custom-sandbox"),
			want:             noVM(1024),
			wantCommittedMiB: 1024,
		},
		{
			name: "gVisor commits its requests plus the sandbox's own memory, no VM",
			pod:  st.MakePod().Res(mem("1Gi")).Obj(),
			rt:   kata("runsc"),
			want: Footprint{Sizing: config.SizingUserSpace, Host: gvisorMeasured, Ratio: 1,
				VMCommitted: 1024*mib + gvisorMeasured, Floor: 1024 * mib, Committed: 1024*mib + gvisorMeasured},
			wantCommittedMiB: 1066,
		},
		{
			name: "gVisor with an overhead larger than the sandbox commits requests + overhead",
			pod:  st.MakePod().Res(mem("1Gi")).Overhead(overhead("64Mi")).Obj(),
			rt:   kata("runsc-debug"),
			want: Footprint{Sizing: config.SizingUserSpace, Host: gvisorMeasured, Ratio: 1,
				VMCommitted: 1024*mib + gvisorMeasured, Floor: 1088 * mib, Committed: 1088 * mib},
			wantCommittedMiB: 1088,
		},
		{
			name:             "init container larger than the app container sizes the guest",
			pod:              st.MakePod().Res(mem("256Mi")).InitReq(mem("1Gi")).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 1024, 96, 0, 1344, 1, true),
			wantCommittedMiB: 3168,
		},
		{
			name: "sidecar runs next to later init containers and the app",
			// sidecar 128Mi, then init 512Mi (runs with the sidecar: 640Mi),
			// app 256Mi (runs with the sidecar: 384Mi) -> 640Mi.
			pod:              st.MakePod().SidecarReq(mem("128Mi")).InitReq(mem("512Mi")).Res(mem("256Mi")).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 640, 96, 0, 960, 1, true),
			wantCommittedMiB: 2784,
		},
		{
			name:             "sidecar adds to the app containers",
			pod:              st.MakePod().SidecarReq(mem("128Mi")).InitReq(mem("64Mi")).Res(mem("1Gi")).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 1152, 96, 0, 1472, 1, true),
			wantCommittedMiB: 3296,
		},
		{
			name: "pod-level memory limit replaces the containers' limits",
			pod: func() *v1.Pod {
				p := st.MakePod().Res(mem("256Mi")).Res(mem("256Mi")).Overhead(overhead("320Mi")).Obj()
				p.Spec.Resources = &v1.ResourceRequirements{Requests: overhead("1Gi"), Limits: overhead("1Gi")}
				return p
			}(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 1024, 96, 0, 1344, 1, true),
			wantCommittedMiB: 3168,
		},
		{
			name:             "VFIO device pins the guest and adds 1Gi",
			pod:              st.MakePod().Res(map[v1.ResourceName]string{v1.ResourceMemory: "512Mi", "qat.intel.com/cy": "1"}).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			want:             vm(config.SizingHotplug, 2048, 512, 96, 1024, 832, 1, true),
			wantCommittedMiB: 3680,
		},
		{
			name:             "a runc pod with a QAT device is not a VM",
			pod:              st.MakePod().Res(map[v1.ResourceName]string{v1.ResourceMemory: "512Mi", "qat.intel.com/cy": "1"}).Obj(),
			want:             noVM(512),
			wantCommittedMiB: 512,
		},
		{
			name:             "overcommitRatio 2 halves the guest, not the VMM",
			pod:              qemuPod,
			rt:               kata("kata-qemu"),
			mutate:           func(a *config.SandboxOverheadArgs) { a.OvercommitRatio = 2 },
			want:             vm(config.SizingHotplug, 2048, 512, 96, 0, 832, 2, true),
			wantCommittedMiB: 1376,
		},
		{
			name:             "overcommitRatio does not apply to a pinned VFIO guest",
			pod:              st.MakePod().Res(map[v1.ResourceName]string{v1.ResourceMemory: "512Mi", "qat.intel.com/cy": "1"}).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			mutate:           func(a *config.SandboxOverheadArgs) { a.OvercommitRatio = 2 },
			want:             vm(config.SizingHotplug, 2048, 512, 96, 1024, 832, 1, true),
			wantCommittedMiB: 3680,
		},
		{
			name:             "overcommit never goes below requests + overhead",
			pod:              st.MakePod().Res(mem("6Gi")).Overhead(overhead("320Mi")).Obj(),
			rt:               kata("kata-qemu"),
			mutate:           func(a *config.SandboxOverheadArgs) { a.OvercommitRatio = 4 },
			want:             vm(config.SizingHotplug, 2048, 6144, 96, 0, 6464, 4, true),
			wantCommittedMiB: 6464,
		},
		{
			name:             "the node's default_memory wins over the profile",
			pod:              qemuPod,
			rt:               kata("kata-qemu"),
			nv:               NodeValues{"kata-qemu": {DefaultMemory: ptr.To(4096 * mib)}},
			want:             vm(config.SizingHotplug, 4096, 512, 96, 0, 832, 1, true),
			wantCommittedMiB: 4704,
		},
		{
			name: "the node's sizing, overhead_memory and shm backing win",
			pod:  st.MakePod().Res(mem("1Gi")).Overhead(overhead("320Mi")).Obj(),
			rt:   kata("kata-qemu"),
			nv: NodeValues{"kata-qemu": {Sizing: ptr.To(config.SizingStatic), OverheadMemory: ptr.To(64 * mib),
				SharedMemoryBacked: ptr.To(false)}},
			want:             vm(config.SizingStatic, 64, 1024, 96, 0, 1344, 1, false),
			wantCommittedMiB: 1344,
		},
		{
			name:             "values for another handler do not apply",
			pod:              qemuPod,
			rt:               kata("kata-qemu"),
			nv:               NodeValues{"kata-clh": {DefaultMemory: ptr.To(4096 * mib)}},
			want:             vm(config.SizingHotplug, 2048, 512, 96, 0, 832, 1, true),
			wantCommittedMiB: 2656,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := defaultModel(t, tc.mutate)
			got := m.PodFootprint(tc.pod, tc.rt, tc.nv)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("footprint (-want,+got):\n%s", diff)
			}
			if got.Committed != tc.wantCommittedMiB*mib {
				t.Errorf("committed = %s, want %dMi", FormatBytes(got.Committed, true), tc.wantCommittedMiB)
			}
		})
	}
}

func TestDefaultProfiles(t *testing.T) {
	m := defaultModel(t, nil)
	tests := []struct {
		handler string
		want    Profile
	}{
		{"kata-qemu", Profile{Handler: "kata-qemu*", Sizing: config.SizingHotplug, DefaultMemory: 2048 * mib, HostOverhead: 96 * mib, SharedMemoryBacked: true}},
		{"kata-qemu-runtime-rs", Profile{Handler: "kata-qemu-runtime-rs", Sizing: config.SizingStatic, DefaultMemory: 2048 * mib, OverheadMemory: 32 * mib, HostOverhead: 96 * mib, SharedMemoryBacked: true}},
		{"kata-clh", Profile{Handler: "kata-clh", Sizing: config.SizingHotplug, DefaultMemory: 2048 * mib, HostOverhead: 64 * mib}},
		{"kata-cloud-hypervisor", Profile{Handler: "kata-cloud-hypervisor", Sizing: config.SizingStatic, DefaultMemory: 2048 * mib, OverheadMemory: 32 * mib, HostOverhead: 64 * mib}},
		{"kata-fc", Profile{Handler: "kata-fc", Sizing: config.SizingHotplug, DefaultMemory: 2048 * mib, HostOverhead: 32 * mib}},
		{"kata-dragonball", Profile{Handler: "kata-dragonball", Sizing: config.SizingStatic, DefaultMemory: 2048 * mib, OverheadMemory: 32 * mib, HostOverhead: 64 * mib}},
		{"kata-qemu-tdx", Profile{Handler: "kata-qemu*tdx*", Sizing: config.SizingStatic, DefaultMemory: 2048 * mib, OverheadMemory: 128 * mib, HostOverhead: 96 * mib}},
		{"kata-qemu-snp", Profile{Handler: "kata-qemu*snp*", Sizing: config.SizingStatic, DefaultMemory: 2048 * mib, OverheadMemory: 128 * mib, HostOverhead: 96 * mib}},
		{"kata-qemu-nvidia-gpu-tdx", Profile{Handler: "kata-qemu*tdx*", Sizing: config.SizingStatic, DefaultMemory: 2048 * mib, OverheadMemory: 128 * mib, HostOverhead: 96 * mib}},
		{"kata-qemu-nvidia-gpu", Profile{Handler: "kata-qemu-nvidia-gpu*", Sizing: config.SizingHotplug, DefaultMemory: 2048 * mib, HostOverhead: 96 * mib, SharedMemoryBacked: true}},
		{"kata-remote", Profile{Handler: "kata-remote*", Sizing: config.SizingOffNode}},
		{"kata", Profile{Handler: "kata*", Sizing: config.SizingHotplug, DefaultMemory: 2048 * mib, HostOverhead: 96 * mib, SharedMemoryBacked: true}},
	}
	for _, tc := range tests {
		t.Run(tc.handler, func(t *testing.T) {
			got, ok := m.ProfileFor(tc.handler)
			if !ok {
				t.Fatalf("no profile for %s", tc.handler)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("profile (-want,+got):\n%s", diff)
			}
		})
	}
	for _, h := range []string{"runsc", "gvisor"} {
		p, ok := m.ProfileFor(h)
		if want := (Profile{Handler: h + "*", Sizing: config.SizingUserSpace, HostOverhead: gvisorMeasured}); !ok || p != want {
			t.Errorf("%s has profile %+v (found %v), want %+v (gVisor: user space, no VM)", h, p, ok, want)
		}
	}
}

func TestExplain(t *testing.T) {
	m := defaultModel(t, nil)
	ratio := defaultModel(t, func(a *config.SandboxOverheadArgs) { a.OvercommitRatio = 1.5 })
	qat := map[v1.ResourceName]string{v1.ResourceMemory: "512Mi", "qat.intel.com/cy": "1"}
	tests := []struct {
		name  string
		model *Model
		pod   *v1.Pod
		rt    tenancy.Runtime
		want  string
	}{
		{"hotplug", m, st.MakePod().Res(mem("512Mi")).Overhead(overhead("320Mi")).Obj(), kata("kata-qemu"),
			"2Gi default guest memory + 512Mi limits + 96Mi VMM"},
		{"hotplug without limits", m, st.MakePod().Req(mem("512Mi")).Obj(), kata("kata-clh"),
			"2Gi default guest memory + 64Mi VMM"},
		{"static with limits", m, st.MakePod().Res(mem("4Gi")).Obj(), kata("kata-dragonball"),
			"4Gi limits + 32Mi overhead_memory + 64Mi VMM"},
		{"static without limits", m, st.MakePod().Req(mem("64Mi")).Obj(), kata("kata-qemu-runtime-rs"),
			"2Gi default guest memory, no limits + 96Mi VMM"},
		{"floor", m, st.MakePod().Res(mem("512Mi")).Overhead(overhead("320Mi")).Obj(), kata("kata-qemu-runtime-rs"),
			"requests + overhead, more than the VM's 640Mi: 512Mi limits + 32Mi overhead_memory + 96Mi VMM"},
		{"vfio", m, st.MakePod().Res(qat).Obj(), kata("kata-qemu"),
			"2Gi default guest memory + 512Mi limits + 96Mi VMM + 1Gi VFIO pinning"},
		{"overcommit", ratio, st.MakePod().Res(mem("512Mi")).Obj(), kata("kata-qemu"),
			"(2Gi default guest memory + 512Mi limits) / 1.5 overcommit + 96Mi VMM"},
		{"runc", m, st.MakePod().Req(mem("1Gi")).Overhead(overhead("64Mi")).Obj(), tenancy.Runtime{},
			"1.1Gi requests + overhead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.model.PodFootprint(tc.pod, tc.rt, nil).Explain()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("explanation (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		b       int64
		roundUp bool
		want    string
	}{
		{0, true, "0Mi"},
		{96 * mib, true, "96Mi"},
		{96*mib + 1, true, "97Mi"},
		{96*mib + 1, false, "96Mi"},
		{1023*mib + 1, true, "1Gi"},
		{2656 * mib, true, "2.6Gi"},
		{2656 * mib, false, "2.5Gi"},
		{2048 * mib, true, "2Gi"},
		{1126 * mib, false, "1Gi"},
		{1127 * mib, false, "1.1Gi"},
		{-512 * mib, false, "-512Mi"},
	}
	for _, tc := range tests {
		if got := FormatBytes(tc.b, tc.roundUp); got != tc.want {
			t.Errorf("FormatBytes(%d, %v) = %q, want %q", tc.b, tc.roundUp, got, tc.want)
		}
	}
}

func TestParseNodeLabels(t *testing.T) {
	tests := []struct {
		name     string
		labels   map[string]string
		want     NodeValues
		wantErrs int
	}{
		{name: "no kata labels", labels: map[string]string{"mtscn.io/kvm": "true"}},
		{
			name: "MiB integer as in Kata's TOML, quantities, sizing and shm",
			labels: map[string]string{
				wellknown.DefaultMemoryLabel("kata-qemu"):             "4096",
				wellknown.SharedMemoryLabel("kata-qemu"):              "true",
				wellknown.DefaultMemoryLabel("kata-qemu-runtime-rs"):  "1Gi",
				wellknown.OverheadMemoryLabel("kata-qemu-runtime-rs"): "64Mi",
				wellknown.SizingLabel("kata-qemu-runtime-rs"):         "static",
				wellknown.SizingLabel("kata-clh"):                     "Hotplug",
				"mtscn.io/runtime.kata-qemu":                          "true",
			},
			want: NodeValues{
				"kata-qemu":            {DefaultMemory: ptr.To(4096 * mib), SharedMemoryBacked: ptr.To(true)},
				"kata-qemu-runtime-rs": {DefaultMemory: ptr.To(1024 * mib), OverheadMemory: ptr.To(64 * mib), Sizing: ptr.To(config.SizingStatic)},
				"kata-clh":             {Sizing: ptr.To(config.SizingHotplug)},
			},
		},
		{
			name: "malformed values are skipped and reported, the rest applies",
			labels: map[string]string{
				wellknown.DefaultMemoryLabel("kata-qemu"): "lots",
				wellknown.SizingLabel("kata-qemu"):        "dynamic",
				wellknown.SharedMemoryLabel("kata-qemu"):  "maybe",
				wellknown.DefaultMemoryLabel("kata-fc"):   "-5",
				wellknown.DefaultMemoryLabel("kata-clh"):  "3072",
			},
			want:     NodeValues{"kata-clh": {DefaultMemory: ptr.To(3072 * mib)}},
			wantErrs: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := ParseNodeLabels(tc.labels)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("values (-want,+got):\n%s", diff)
			}
			if len(errs) != tc.wantErrs {
				t.Errorf("got %d errors %v, want %d", len(errs), errors.Join(errs...), tc.wantErrs)
			}
		})
	}
}
