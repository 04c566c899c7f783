package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/node/agent"
	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/wellknown"
	nfdharness "github.com/mtscn/mtscn/test/integration/harness/nfd"
)

// published is what a user sees on a Node: the mtscn.io labels and the
// mtscn.io extended resources of its capacity and allocatable.
type published struct {
	Labels      map[string]string
	Capacity    map[string]string
	Allocatable map[string]string
}

func publishedOn(n *v1.Node) published {
	p := published{Labels: map[string]string{}, Capacity: map[string]string{}, Allocatable: map[string]string{}}
	for k, v := range n.Labels {
		if strings.HasPrefix(k, wellknown.LabelPrefix) {
			p.Labels[k] = v
		}
	}
	for name, q := range n.Status.Capacity {
		if strings.HasPrefix(string(name), wellknown.LabelPrefix) {
			p.Capacity[string(name)] = fmt.Sprint(q.Value())
		}
	}
	for name, q := range n.Status.Allocatable {
		if strings.HasPrefix(string(name), wellknown.LabelPrefix) {
			p.Allocatable[string(name)] = fmt.Sprint(q.Value())
		}
	}
	return p
}

// TestCapacityWithoutNFD compares the two ways mtscn-node publishes a
// node on the real apiserver. Node via-nfd: the agent publishes its
// NodeFeature and the real nfd-master turns it into labels and extended
// resources with the shipped nfd-rules/ (as NodeFeatureRule objects).
// Node via-agent: the agent runs with --publish=node-labels, no NFD. Over a
// sequence of hosts (resources added, changed, set to 0, gone), both Nodes
// must carry the same mtscn.io labels and the same mtscn.io capacity, and
// nothing else of theirs may change.
func TestCapacityWithoutNFD(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := startControlPlaneWithCRDs(t)
	cp.CreateNamespace(t, namespace, nil)
	nfd := nfdharness.NewClient(t, cp.Config)
	nfdharness.CreateRules(t, ctx, nfd)
	base := map[v1.ResourceName]string{v1.ResourceCPU: "8", v1.ResourceMemory: "64Gi", "qat.intel.com/generic": "8"}
	for _, name := range []string{"via-nfd", "via-agent"} {
		n := st.MakeNode().Name(name).Label("team", "a").Capacity(base).Obj()
		// The kubelet annotates every Node it registers; nfd-master's JSON
		// patch adds its annotations into that map (it fails on a Node
		// without annotations).
		n.Annotations = map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"}
		cp.CreateNode(t, n)
	}
	nfdharness.StartMaster(t, cp, "via-nfd")

	viaNFD := agent.DefaultConfig()
	viaNFD.NodeName, viaNFD.Namespace = "via-nfd", namespace
	viaAgent := agent.DefaultConfig()
	viaAgent.NodeName, viaAgent.Publish = "via-agent", agent.PublishNodeLabels

	steps := []struct {
		fixture string
		// sources, when set, restricts discovery (no memory source: no
		// capacity feature, so the rules produce no extended resource).
		sources []string
		// wantCapacity pins the agent's result, so that two empty results
		// cannot pass as equal.
		wantCapacity map[string]string
	}{
		{fixture: "intel-qat-baremetal", wantCapacity: map[string]string{wellknown.ResourceSandboxMemory: "270247219200", wellknown.ResourceSandboxes: "110"}},
		{fixture: "smt-l1tf-vulnerable", wantCapacity: map[string]string{wellknown.ResourceSandboxMemory: "100663296000", wellknown.ResourceSandboxes: "32"}},
		{fixture: "vm-no-kvm", wantCapacity: map[string]string{wellknown.ResourceSandboxMemory: "0", wellknown.ResourceSandboxes: "0"}},
		{fixture: "amd-sev-snp", sources: slices.DeleteFunc(slices.Clone(discover.AllSources), func(s string) bool { return s == discover.SourceMemory }), wantCapacity: map[string]string{}},
	}
	for _, step := range steps {
		f := &fixture{name: step.fixture}
		opts := func(o *discover.Options) {
			f.apply(o)
			if step.sources != nil {
				o.Sources = step.sources
			}
		}
		for _, cfg := range []agent.Config{viaNFD, viaAgent} {
			a, err := agent.New(cfg, agent.WithNFDClient(nfd), agent.WithKubeClient(cp.Client), agent.WithDiscoverOptions(opts))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.RunOnce(ctx); err != nil {
				t.Fatalf("%s, publish %s: %v", step.fixture, cfg.Publish, err)
			}
		}
		agentNode, err := cp.Client.CoreV1().Nodes().Get(ctx, "via-agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := publishedOn(agentNode)
		if diff := cmp.Diff(step.wantCapacity, want.Capacity); diff != "" {
			t.Errorf("%s: node-labels mode's capacity (-want,+got):\n%s", step.fixture, diff)
		}
		if diff := cmp.Diff(want.Capacity, want.Allocatable); diff != "" {
			t.Errorf("%s: node-labels mode's allocatable differs from its capacity (-capacity,+allocatable):\n%s", step.fixture, diff)
		}
		// nfd-master works asynchronously: wait until it caught up.
		var got published
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			n, err := cp.Client.CoreV1().Nodes().Get(ctx, "via-nfd", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got = publishedOn(n)
			return cmp.Equal(want.Labels, got.Labels) && cmp.Equal(want.Capacity, got.Capacity), nil
		})
		if err != nil {
			t.Errorf("%s: nfd-master's Node never matched node-labels mode's:\nlabels (-node-labels,+nfd-master):\n%s\ncapacity (-node-labels,+nfd-master):\n%s",
				step.fixture, cmp.Diff(want.Labels, got.Labels), cmp.Diff(want.Capacity, got.Capacity))
		}
		// What the agent does not own is untouched.
		if agentNode.Labels["team"] != "a" {
			t.Errorf("%s: label team changed: %v", step.fixture, agentNode.Labels)
		}
		for name, v := range base {
			if q := agentNode.Status.Capacity[name]; q.String() != v {
				t.Errorf("%s: capacity %s changed to %s, want %s", step.fixture, name, q.String(), v)
			}
		}
	}
}
