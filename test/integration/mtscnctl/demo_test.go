package mtscnctl

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/audit"
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
		Out:     &out,
		Compare: true,
	})
	if err != nil {
		t.Fatalf("demo: %v\nprogress:\n%s", err, progress.String())
	}
	report := out.String()
	t.Logf("report:\n%s", report)

	checkDefault(t, s, report)

	// The printed summary: every section, zero violations.
	for _, want := range []string{
		"== Placements by mtscn-scheduler (node × tenant × runtime)",
		"== Pending pods and why",
		"== Memory per node",
		"== Audit (I1-I4, F1-F3)",
		"== The same workload under default-scheduler",
		"== Summary",
		"no violations: I1-I4 hold on every node and no node holds more than it has (F1-F3)",
		// I3: globex requires sandboxes, its runc pod is refused.
		"globex/migrate-runc (runc): 0/6 nodes are available\n    tenant requires a sandboxed runtime class\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, step := range []string{"starting etcd and kube-apiserver", "submitting 22 pods to default-scheduler", "submitting 22 pods to mtscn-scheduler", "audited 6 nodes"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress lacks %q:\n%s", step, progress.String())
		}
	}
	if len(s.Mtscn.Violations) != 0 {
		t.Errorf("violations: %+v", s.Mtscn.Violations)
	}
	if len(s.Mtscn.VMsWithoutKVM) != 0 {
		t.Errorf("VMs on nodes without KVM: %v", s.Mtscn.VMsWithoutKVM)
	}

	placed := map[string]string{}
	pending := map[string]string{}
	for _, o := range s.Mtscn.Result.Outcomes {
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
	for _, o := range s.Mtscn.Result.Outcomes {
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
	for _, m := range s.Mtscn.Memory {
		if m.Overcommitted() || m.SharedOverflow() {
			t.Errorf("node %s overcommitted: %+v", m.Node, m)
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

// The comparison: the default scheduler, blind to tenancy and VM memory,
// places the runc pod of the sandbox=required tenant (I3) somewhere.
func checkDefault(t *testing.T, s *demo.Summary, report string) {
	t.Helper()
	if s.Default == nil {
		t.Fatal("no default-scheduler outcome")
	}
	i3 := false
	for _, v := range s.Default.Violations {
		if v.Rule == audit.RuleI3 && len(v.Pods) == 1 && v.Pods[0] == "globex/migrate-runc" {
			i3 = true
		}
	}
	if !i3 {
		t.Errorf("default-scheduler's violations lack I3 for globex/migrate-runc: %+v", s.Default.Violations)
	}
	// The summary row: 0 for mtscn-scheduler, the count for default-scheduler.
	found := false
	for _, line := range strings.Split(report, "\n") {
		if !strings.HasPrefix(line, "isolation violations (I1-I4)") {
			continue
		}
		found = true
		fields := strings.Fields(strings.TrimPrefix(line, "isolation violations (I1-I4)"))
		want := []string{"0", fmt.Sprint(len(s.Default.Violations) - countRule(s.Default.Violations, audit.RuleF1) - countRule(s.Default.Violations, audit.RuleF2) - countRule(s.Default.Violations, audit.RuleF3))}
		if diff := cmp.Diff(want, fields); diff != "" {
			t.Errorf("summary row %q (-want,+got):\n%s", line, diff)
		}
	}
	if !found {
		t.Errorf("report has no summary row for isolation violations")
	}
}

func countRule(vs []audit.Violation, r audit.Rule) int {
	n := 0
	for _, v := range vs {
		if v.Rule == r {
			n++
		}
	}
	return n
}

// BenchmarkDemo measures a whole `mtscnctl demo` run: control plane start,
// both schedulers on the 22-pod workload, audit and report, teardown.
func BenchmarkDemo(b *testing.B) {
	// kube-apiserver logs through the global klog; keep the numbers readable.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	b.Cleanup(func() { _ = fs.Set("logtostderr", "true"); _ = fs.Set("stderrthreshold", "ERROR") })
	for i := 0; i < b.N; i++ {
		_, err := demo.Run(context.Background(), demo.Options{
			Engine:  simulate.Options{SchedulerConfig: harness.ShippedConfig()},
			Out:     io.Discard,
			Compare: true,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
