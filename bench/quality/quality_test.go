package quality

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/test/utils/ktesting"

	"github.com/mtscn/mtscn/bench/workload"
	"github.com/mtscn/mtscn/pkg/apis/config"
	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/pkg/vmsize"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

const (
	shippedRuntimeClasses = "../../manifests/runtimeclasses/runtimeclasses.yaml"
	shippedConfig         = "../../manifests/scheduler/scheduler-config.yaml"
	spreadConfig          = "../../manifests/scheduler/scheduler-config-spread.yaml"
)

func runtimeClasses(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(shippedRuntimeClasses)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var defaultTenancy = tenancy.Config{
	TenantLabelKeys:          configv1.DefaultTenantLabelKeys,
	InfrastructureNamespaces: configv1.DefaultInfrastructureNamespaces,
	SandboxedHandlers:        configv1.DefaultSandboxedHandlers,
	OffNodeHandlers:          configv1.DefaultOffNodeHandlers,
}

// TestSmoke places a 20-node, 60-pod workload with the default profile and
// with mtscn through a real kube-apiserver and scheduler: the default
// scheduler mixes tenants on shared kernels, mtscn must not, and neither
// may use fewer nodes than the lower bounds. The churn phase replaces 20
// pods and mtscn still places them all without a violation.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two control planes")
	}
	_, ctx := ktesting.NewTestContext(t)
	results, err := Run(ctx, Options{
		Size:            workload.Size{Name: "smoke", Nodes: 20, Pods: 60},
		Profiles:        []string{workload.ProfileDefault, workload.ProfileMtscn},
		RuntimeClasses:  runtimeClasses(t),
		SchedulerConfig: shippedConfig,
		Timeout:         2 * time.Minute,
		Churn:           true,
		Seed:            1,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	def, mtscn := results[0], results[1]
	t.Logf("default: %+v", def)
	t.Logf("mtscn: %+v", mtscn)
	if def.Violations[audit.RuleI1] == 0 {
		t.Errorf("default profile: no I1 violation found; the audit or the workload lost its runc tenants")
	}
	if mtscn.TotalViolations() != 0 || mtscn.OvercommittedNodes != 0 || mtscn.Pending != 0 {
		t.Errorf("mtscn: %d violations %v, %d overcommitted nodes, %d pending; want none", mtscn.TotalViolations(), mtscn.Violations, mtscn.OvercommittedNodes, mtscn.Pending)
	}
	if c := mtscn.Churn; c == nil || c.TotalViolations() != 0 || c.OvercommittedNodes != 0 || c.Pending != 0 {
		t.Errorf("mtscn after churn: %+v; want no violation, overcommitted node or pending pod", c)
	}
	for _, r := range results {
		if r.Churn == nil || r.Churn.Deleted != 20 || r.Churn.Created != 20 {
			t.Errorf("%s: churn %+v, want 20 pods deleted and 20 created", r.Profile, r.Churn)
			continue
		}
		for phase, p := range map[string]Placement{"placement": r.Placement, "after churn": r.Churn.Placement} {
			if !p.Settled || p.Placed+p.Pending != 60 || p.LowerBound == 0 || p.TenancyLowerBound < p.LowerBound || p.NodesUsed < p.LowerBound {
				t.Errorf("%s, %s: settled %v, placed %d + pending %d, %d nodes used, lower bounds: memory %d, tenancy %d",
					r.Profile, phase, p.Settled, p.Placed, p.Pending, p.NodesUsed, p.LowerBound, p.TenancyLowerBound)
			}
		}
		if r.Profile == workload.ProfileMtscn && r.NodesUsed < r.TenancyLowerBound {
			t.Errorf("mtscn uses %d nodes, below the tenancy bound %d: the bound or the audit is wrong", r.NodesUsed, r.TenancyLowerBound)
		}
	}
}

func TestAssignPools(t *testing.T) {
	objs, err := workload.Build(workload.Small, runtimeClasses(t), workload.VariantFor(workload.ProfileDedicatedPools))
	if err != nil {
		t.Fatal(err)
	}
	model, err := vmsize.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	reserved, err := AssignPools(objs, defaultTenancy, model)
	if err != nil {
		t.Fatal(err)
	}
	fps := footprints(objs.Pods, objs.RuntimeClasses, objs.Namespaces, defaultTenancy, model)
	type key struct{ tenant, group string }
	demand := map[key]int64{}
	shmDemand := map[key]int64{}
	for i, p := range objs.Pods {
		k := key{p.Spec.NodeSelector[PoolLabel], string(groupOf(p))}
		demand[k] += fps[i].Committed
		shmDemand[k] += fps[i].SharedMemory
	}
	capacity := map[key]int64{}
	shmCapacity := map[key]int64{}
	nodes := map[key]int{}
	labelled := 0
	for _, n := range objs.Nodes {
		tenant := n.Labels[PoolLabel]
		if tenant == "" {
			continue
		}
		labelled++
		class := n.Labels["bench.mtscn.io/class"]
		group := map[string]string{"tdx": "tdx", "qat": "qat", "hw": "kata", "nested": "kata", "plain": "runc"}[class]
		if demand[key{tenant, group}] == 0 && class == "hw" {
			group = "runc" // runc pools spill over to hw nodes
		}
		m := n.Status.Capacity[v1.ResourceMemory]
		capacity[key{tenant, group}] += m.Value()
		shm := n.Status.Capacity[wellknown.ResourceSandboxMemory]
		shmCapacity[key{tenant, group}] += shm.Value()
		nodes[key{tenant, group}]++
	}
	if labelled != reserved {
		t.Errorf("AssignPools returned %d, labelled %d nodes", reserved, labelled)
	}
	for k, d := range demand {
		if capacity[k] < d {
			t.Errorf("pool %v: capacity %s < demand %s", k, vmsize.FormatBytes(capacity[k], false), vmsize.FormatBytes(d, true))
		}
		if shmCapacity[k] < shmDemand[k] {
			t.Errorf("pool %v: sandbox-memory %s < /dev/shm demand %s", k, vmsize.FormatBytes(shmCapacity[k], false), vmsize.FormatBytes(shmDemand[k], true))
		}
		if nodes[k] < 2 {
			t.Errorf("pool %v has %d nodes, want the demand plus a spare", k, nodes[k])
		}
	}
	if diff := cmp.Diff(len(demand), len(capacity)); diff != "" {
		t.Errorf("pools (-demand groups,+pool groups):\n%s", diff)
	}
}

// TestConfigs: the shipped profile packs by committed memory and the
// spreading alternative spreads by it; both keep the same isolation args.
func TestConfigs(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	profiles := []string{workload.ProfileMtscn, ProfileMtscnAllNodes, ProfileMtscnSpread}
	cfgs, err := loadConfigs(ctx, Options{SchedulerConfig: shippedConfig, SpreadSchedulerConfig: spreadConfig}, profiles)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	isolation := map[string]*config.TenantIsolationArgs{}
	for _, p := range profiles {
		cfg, err := schedulerConfig(p, cfgs)
		if err != nil {
			t.Fatal(err)
		}
		if pct := cfg.Profiles[0].PercentageOfNodesToScore; (p == ProfileMtscnAllNodes) != (pct != nil && *pct == 100) {
			t.Errorf("%s: percentageOfNodesToScore %v", p, pct)
		}
		for _, pc := range cfg.Profiles[0].PluginConfig {
			switch args := pc.Args.(type) {
			case *config.SandboxOverheadArgs:
				got[p] = string(args.ScoringStrategy)
			case *config.TenantIsolationArgs:
				isolation[p] = args
			}
		}
	}
	want := map[string]string{workload.ProfileMtscn: "MostCommitted", ProfileMtscnAllNodes: "MostCommitted", ProfileMtscnSpread: "LeastCommitted"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SandboxOverhead scoring (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(isolation[workload.ProfileMtscn], isolation[ProfileMtscnSpread]); diff != "" {
		t.Errorf("TenantIsolation args differ between the shipped and the spreading profile (-shipped,+spread):\n%s", diff)
	}
	if _, err := schedulerConfig("spread-everything", cfgs); err == nil || !strings.Contains(err.Error(), "unknown profile") {
		t.Errorf("unknown profile: got %v", err)
	}
	if _, err := loadConfigs(ctx, Options{SchedulerConfig: shippedConfig}, profiles); err == nil {
		t.Errorf("%s without SpreadSchedulerConfig: no error", ProfileMtscnSpread)
	}
}
