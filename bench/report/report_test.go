package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mtscn/mtscn/bench/quality"
)

// perfJSON is a trimmed scheduler_perf data items file, as
// RunBenchmarkPerfScheduling writes it.
const perfJSON = `{"version":"v1","dataItems":[
{"data":{"Average":400,"Perc50":410,"Perc90":500,"Perc99":520},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Name":"BenchmarkPerfScheduling/Default/500Nodes_5000Pods/Default","extension_point":"not applicable","result":"not applicable"}},
{"data":{"Average":50,"Perc50":48,"Perc90":60,"Perc99":70},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Name":"BenchmarkPerfScheduling/AntiAffinity/500Nodes_5000Pods/AntiAffinity","extension_point":"not applicable","result":"not applicable"}},
{"data":{"Average":380,"Perc50":390,"Perc90":450,"Perc99":480},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Name":"BenchmarkPerfScheduling/Mtscn/500Nodes_5000Pods/Mtscn","extension_point":"not applicable","result":"not applicable"}},
{"data":{"Average":12.5},"unit":"ms","labels":{"Metric":"scheduler_scheduling_attempt_duration_seconds","Name":"BenchmarkPerfScheduling/Mtscn/500Nodes_5000Pods/Mtscn","extension_point":"not applicable","result":"scheduled"}},
{"data":{"Average":0.25},"unit":"ms","labels":{"Metric":"scheduler_plugin_execution_duration_seconds","Name":"BenchmarkPerfScheduling/Mtscn/500Nodes_5000Pods/Mtscn","extension_point":"Filter","plugin":"TenantIsolation","result":"not applicable"}}
]}`

func TestReadPerfAndTables(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "BenchmarkPerfScheduling_benchmark_mtscn_2026-11-25T22:59:31Z.json"), []byte(perfJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	tps, err := ReadPerf(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Throughput{
		{Profile: "default", Workload: "500Nodes_5000Pods", Average: 400, Perc50: 410, Perc90: 500, Perc99: 520},
		{Profile: "anti-affinity", Workload: "500Nodes_5000Pods", Average: 50, Perc50: 48, Perc90: 60, Perc99: 70},
		{Profile: "mtscn", Workload: "500Nodes_5000Pods", Average: 380, Perc50: 390, Perc90: 450, Perc99: 480, AttemptMs: 12.5, PluginMs: map[string]float64{"TenantIsolation/Filter": 0.25}},
	}
	if diff := cmp.Diff(want, tps); diff != "" {
		t.Fatalf("ReadPerf (-want,+got):\n%s", diff)
	}
	var b strings.Builder
	WriteThroughputTable(&b, tps)
	for _, line := range []string{
		"| mtscn | 380.0 | 390.0 | 450.0 | 480.0 | 12.5 |",
		"- mtscn / default = 0.95 (target ≥ 0.90): met",
		"- mtscn / anti-affinity = 7.60 (target ≥ 3): met",
		"| TenantIsolation/Filter | 250.0 |",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("throughput table lacks %q:\n%s", line, b.String())
		}
	}

	rs := []quality.Result{
		{Profile: "dedicated-pools", Nodes: 500, Pods: 5000, PoolNodes: 320, Placement: quality.Placement{Placed: 5000, NodesUsed: 300, LowerBound: 200, TenancyLowerBound: 240, Settled: true}},
		{Profile: "mtscn", Nodes: 500, Pods: 5000, Placement: quality.Placement{Placed: 5000, NodesUsed: 250, LowerBound: 200, TenancyLowerBound: 240, Settled: true},
			Churn: &quality.Churn{Deleted: 1666, Created: 1666, Placement: quality.Placement{Placed: 4990, Pending: 10, NodesUsed: 260, LowerBound: 200, TenancyLowerBound: 240, Settled: true,
				PendingReasons: map[string]int{"0/500 nodes are available: 500 insufficient committed memory.": 10}}}},
	}
	b.Reset()
	WriteQualityTable(&b, "500Nodes_5000Pods", rs)
	for _, line := range []string{
		"| dedicated-pools | 300 (320 reserved) | 200, 0, 240 | 1.50 | 1.25 | 0 (0/0/0/0) | 0 | 0 | 0 |",
		"| mtscn, after churn (−1666/+1666 pods) | 260 | 200, 0, 240 | 1.30 | 1.08 | 0 (0/0/0/0) | 0 | 10 | 0 |",
		"Why mtscn after churn left pods pending:\n\n- 10 pods: 0/500 nodes are available: 500 insufficient committed memory.",
		"- mtscn nodes used / memory lower bound = 1.25 (target ≤ 1.15): missed",
		"- mtscn after churn: nodes used / memory lower bound = 1.30 (target ≤ 1.25): missed; 0 violations, 0 overcommitted nodes, 10 pending",
		"- mtscn uses 22% fewer nodes than dedicated-pools (320 reserved) (target ≥ 15% fewer): met",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("quality table lacks %q:\n%s", line, b.String())
		}
	}
}

func TestWriteSVG(t *testing.T) {
	var b strings.Builder
	panels := Panels(Results{
		Throughput: []Throughput{{Profile: "default", Workload: "w", Average: 400}, {Profile: "mtscn", Workload: "w", Average: 200}},
		Quality:    []quality.Result{{Profile: "mtscn", Nodes: 10, Pods: 20, Placement: quality.Placement{NodesUsed: 4, LowerBound: 3}}},
	})
	if err := WriteSVG(&b, panels); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, one rect per bar (plus the background), bar heights
	// proportional to the values.
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	var heights []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "height" {
					heights = append(heights, a.Value)
				}
			}
		}
	}
	// Background, then default (400 of 460 max = 173.9) and mtscn (87.0),
	// then 4 nodes of 4.6 max.
	if diff := cmp.Diff([]string{"300", "173.9", "87.0", "173.9"}, heights); diff != "" {
		t.Errorf("rect heights (-want,+got):\n%s\n%s", diff, b.String())
	}
}
