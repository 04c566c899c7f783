package wiring

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/apis/config"
	"github.com/mtscn/mtscn/pkg/plugins/names"
	"github.com/mtscn/mtscn/pkg/schedulercmd"
	"github.com/mtscn/mtscn/test/integration/harness"
)

var ours = []string{names.TenantIsolation, names.SandboxOverhead, names.SandboxFeatures}

// TestShippedProfile starts the scheduler from the shipped configuration and
// checks that the mtscn profile runs our plugins at the extension points
// they implement, next to the upstream defaults.
func TestShippedProfile(t *testing.T) {
	cp := harness.StartControlPlane(t)
	sched := cp.StartScheduler(t)

	prof, ok := sched.Profiles[schedulercmd.SchedulerName]
	if !ok {
		t.Fatalf("no %q profile; profiles: %v", schedulercmd.SchedulerName, keys(sched.Profiles))
	}
	plugins := prof.ListPlugins()
	for point, set := range map[string]schedconfig.PluginSet{"PreFilter": plugins.PreFilter, "Filter": plugins.Filter} {
		got := sets.New[string]()
		for _, p := range set.Enabled {
			got.Insert(p.Name)
		}
		for _, name := range ours {
			if !got.Has(name) {
				t.Errorf("%s: %s not enabled; enabled: %v", point, name, sets.List(got))
			}
		}
		// The upstream filters stay on: mtscn adds to them, it does not replace them.
		for _, upstream := range []string{"NodeResourcesFit", "NodeAffinity", "TaintToleration"} {
			if !got.Has(upstream) && point == "Filter" {
				t.Errorf("%s: upstream %s missing; enabled: %v", point, upstream, sets.List(got))
			}
		}
	}

	// The args reach the plugins defaulted: the shipped file does not list
	// SandboxOverhead's profiles, so the defaults must have filled them in.
	var overheadArgs *config.SandboxOverheadArgs
	for _, pc := range loadShippedProfile(t).PluginConfig {
		if a, ok := pc.Args.(*config.SandboxOverheadArgs); ok {
			overheadArgs = a
		}
	}
	if overheadArgs == nil || len(overheadArgs.Profiles) == 0 {
		t.Fatalf("SandboxOverhead args not defaulted: %+v", overheadArgs)
	}
}

// TestPodIsBoundByMtscn creates a node and a pod naming mtscn-scheduler and
// waits for the binding.
func TestPodIsBoundByMtscn(t *testing.T) {
	cp := harness.StartControlPlane(t)
	cp.StartScheduler(t)

	cp.CreateNode(t, st.MakeNode().Name("node-a").Capacity(map[v1.ResourceName]string{
		v1.ResourceCPU: "8", v1.ResourceMemory: "16Gi", v1.ResourcePods: "110",
	}).Obj())
	cp.CreateNamespace(t, "team-a", map[string]string{"mtscn.io/tenant": "a"})
	pod := st.MakePod().Namespace("team-a").Name("web").
		Req(map[v1.ResourceName]string{v1.ResourceCPU: "100m", v1.ResourceMemory: "128Mi"}).Obj()
	cp.CreatePod(t, pod)

	if got := cp.WaitForBound(t, "team-a", "web", 30*time.Second); got != "node-a" {
		t.Errorf("bound to %q, want node-a", got)
	}
}

// TestOtherSchedulersPodsAreLeftAlone checks that mtscn-scheduler, deployed
// as a secondary scheduler, does not bind pods meant for another one.
func TestOtherSchedulersPodsAreLeftAlone(t *testing.T) {
	cp := harness.StartControlPlane(t)
	cp.StartScheduler(t)
	cp.CreateNode(t, st.MakeNode().Name("node-a").Capacity(map[v1.ResourceName]string{
		v1.ResourceCPU: "8", v1.ResourceMemory: "16Gi",
	}).Obj())
	cp.CreateNamespace(t, "team-a", nil)
	pod := st.MakePod().Namespace("team-a").Name("other").SchedulerName("someone-else").Obj()
	cp.CreatePod(t, pod)
	cp.ExpectNotBound(t, "team-a", "other", 3*time.Second)
}

func loadShippedProfile(t *testing.T) *schedconfig.KubeSchedulerProfile {
	cfg := harness.LoadConfig(t, harness.ShippedConfig())
	if diff := cmp.Diff(1, len(cfg.Profiles)); diff != "" {
		t.Fatalf("profiles in shipped config (-want,+got):\n%s", diff)
	}
	return &cfg.Profiles[0]
}

func keys[V any](m map[string]V) []string {
	return sets.List(sets.KeySet(m))
}
