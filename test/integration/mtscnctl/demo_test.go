package mtscnctl

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtscn/mtscn/pkg/demo"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/simulate"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// TestDemo runs the demo end to end on its embedded control plane and
// checks the printed report and the placements behind it.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	s, err := demo.Run(ctx, demo.Options{
		Engine: simulate.Options{
			SchedulerConfig: harness.ShippedConfig(),
			Progress:        &progress,
			Cluster:         devclusterOptions(t),
		},
		Out: &out,
	})
	if err != nil {
		t.Fatalf("demo: %v\nprogress:\n%s", err, progress.String())
	}
	report := out.String()
	t.Logf("report:\n%s", report)

	// The printed summary: every section, zero violations.
	for _, want := range []string{
		"== Placements (node × tenant × runtime)",
		"== Pending pods",
		"== Memory per node",
		"== Audit (I1-I4, overcommit)",
		"no violations: I1-I4 hold on every node and no node is overcommitted",
		// I3: globex requires sandboxes, its runc pod is refused.
		"globex/migrate-runc (runc): 0/6 nodes are available\n    tenant requires a sandboxed runtime class\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, step := range []string{"starting etcd and kube-apiserver", "submitting 22 pods", "audited 6 nodes"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress lacks %q:\n%s", step, progress.String())
		}
	}
	if len(s.Violations) != 0 {
		t.Errorf("violations: %+v", s.Violations)
	}

	placed := map[string]string{}
	pending := map[string]string{}
	for _, o := range s.Result.Outcomes {
		key := o.Namespace + "/" + o.Name
		if o.Node != "" {
			placed[key] = o.Node
			continue
		}
		pending[key] = o.Reason
		// Every pending pod appears in the report with its reason.
		head, items := simulate.SplitReason(o.Reason)
		if !strings.Contains(report, head) || len(items) == 0 || !strings.Contains(report, "    "+items[0]+"\n") {
			t.Errorf("pending pod %s: reason %q not printed", key, o.Reason)
		}
	}
	// Placements decided by the filters, whatever the scores.
	for pod, node := range map[string]string{
		"acme-web/tls-qat":   demo.NodeMetalQAT, // QAT VF needs IOMMU + vfio-pci
		"umbrella/vault-snp": demo.NodeMetalSNP, // SEV-SNP
	} {
		if placed[pod] != node {
			t.Errorf("%s placed on %q, want %s (pending reason: %q)", pod, placed[pod], node, pending[pod])
		}
	}
	if _, ok := pending["globex/migrate-runc"]; !ok {
		t.Errorf("globex/migrate-runc was placed on %q; its tenant requires a sandbox", placed["globex/migrate-runc"])
	}
	// No VM on the node without KVM.
	for _, o := range s.Result.Outcomes {
		if o.Node == demo.NodeVMNoKVM && o.RuntimeClass != "" {
			t.Errorf("%s/%s (%s) placed on %s, which has no /dev/kvm", o.Namespace, o.Name, o.RuntimeClass, o.Node)
		}
	}
	// The big analytics VMs: some fit, the rest wait for memory, not for
	// anything else, and nothing is overcommitted.
	analyticsPending := 0
	for pod, reason := range pending {
		if !strings.HasPrefix(pod, "umbrella/analytics-") {
			continue
		}
		analyticsPending++
		if !strings.Contains(reason, "insufficient sandbox memory") && !strings.Contains(reason, "insufficient committed memory") {
			t.Errorf("%s pending without a memory reason: %q", pod, reason)
		}
	}
	if analyticsPending == 0 || analyticsPending == 6 {
		t.Errorf("%d of 6 analytics VMs pending; want some placed and some refused for memory", analyticsPending)
	}
	unseen := int64(0)
	for _, m := range s.Memory {
		if m.Overcommitted() {
			t.Errorf("node %s overcommitted: %d > %d", m.Node, m.Committed, m.Allocatable)
		}
		unseen += m.Committed - m.Counted
	}
	// The point of the memory table: VMs commit far more than requests +
	// overhead (at least 2Gi default guest memory per VM).
	if unseen < 8<<30 {
		t.Errorf("committed - counted = %d bytes over all nodes, want at least 8Gi", unseen)
	}
}

func devclusterOptions(t *testing.T) devcluster.Options {
	return devcluster.Options{DataDir: filepath.Join(t.TempDir(), "cluster")}
}
