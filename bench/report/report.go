package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mtscn/mtscn/bench/quality"
	"github.com/mtscn/mtscn/bench/workload"
)

// Throughput is one scheduler_perf workload's SchedulingThroughput.
type Throughput struct {
	// Profile is default, anti-affinity or mtscn.
	Profile string `json:"profile"`
	// Workload is the size (e.g. 500Nodes_5000Pods).
	Workload string `json:"workload"`
	// Average and the percentiles are in pods/s over 1 s samples.
	Average float64 `json:"average"`
	Perc50  float64 `json:"perc50"`
	Perc90  float64 `json:"perc90"`
	Perc99  float64 `json:"perc99"`
	// AttemptMs is the average scheduling attempt duration.
	AttemptMs float64 `json:"attemptMs,omitempty"`
	// PluginMs is the average duration of one plugin call in ms, by
	// "<plugin>/<extension point>" (scheduler_plugin_execution_duration_seconds,
	// which the scheduler samples).
	PluginMs map[string]float64 `json:"pluginMs,omitempty"`
}

// Results is everything one `make bench` run measured.
type Results struct {
	Machine    string           `json:"machine"`
	Throughput []Throughput     `json:"throughput"`
	Quality    []quality.Result `json:"quality"`
	Size       string           `json:"size"`
}

type dataItems struct {
	DataItems []struct {
		Data   map[string]float64 `json:"data"`
		Unit   string             `json:"unit"`
		Labels map[string]string  `json:"labels"`
	} `json:"dataItems"`
}

// profileOfTestCase maps scheduler_perf test case names back to profiles.
func profileOfTestCase(name string) string {
	for prof, tc := range workload.PerfTestCases {
		if tc == name {
			return prof
		}
	}
	return name
}

// ReadPerf reads every scheduler_perf JSON file in dir
// (BenchmarkPerfScheduling_*.json); later files win for the same profile
// and workload.
func ReadPerf(dir string) ([]Throughput, error) {
	files, err := filepath.Glob(filepath.Join(dir, "BenchmarkPerfScheduling*.json"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(files) // names end in a timestamp
	byKey := map[string]Throughput{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading scheduler_perf results: %w", err)
		}
		var items dataItems
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("decoding scheduler_perf results %s: %w", f, err)
		}
		attempts := map[string]float64{}
		plugins := map[string]map[string]float64{}
		for _, it := range items.DataItems {
			name := it.Labels["Name"]
			switch it.Labels["Metric"] {
			case "scheduler_scheduling_attempt_duration_seconds":
				if it.Labels["result"] == "scheduled" {
					attempts[name] = it.Data["Average"]
				}
			case "scheduler_plugin_execution_duration_seconds":
				if plugins[name] == nil {
					plugins[name] = map[string]float64{}
				}
				plugins[name][it.Labels["plugin"]+"/"+it.Labels["extension_point"]] = it.Data["Average"]
			}
		}
		for _, it := range items.DataItems {
			if it.Labels["Metric"] != "SchedulingThroughput" {
				continue
			}
			// Name is BenchmarkPerfScheduling/<test case>/<workload>/<collector name>.
			parts := strings.Split(it.Labels["Name"], "/")
			if len(parts) < 3 {
				return nil, fmt.Errorf("%s: unexpected data item name %q", f, it.Labels["Name"])
			}
			tp := Throughput{
				Profile:   profileOfTestCase(parts[1]),
				Workload:  parts[2],
				Average:   it.Data["Average"],
				Perc50:    it.Data["Perc50"],
				Perc90:    it.Data["Perc90"],
				Perc99:    it.Data["Perc99"],
				AttemptMs: attempts[it.Labels["Name"]],
				PluginMs:  plugins[it.Labels["Name"]],
			}
			byKey[tp.Workload+"/"+tp.Profile] = tp
		}
	}
	var out []Throughput
	for _, tp := range byKey {
		out = append(out, tp)
	}
	order := map[string]int{workload.ProfileDefault: 0, workload.ProfileAntiAffinity: 1, workload.ProfileMtscn: 2}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workload != out[j].Workload {
			return out[i].Workload < out[j].Workload
		}
		return order[out[i].Profile] < order[out[j].Profile]
	})
	return out, nil
}

// find returns the throughput of a profile on a workload.
func find(tps []Throughput, wl, profile string) (Throughput, bool) {
	for _, tp := range tps {
		if tp.Workload == wl && tp.Profile == profile {
			return tp, true
		}
	}
	return Throughput{}, false
}

// WriteThroughputTable prints one markdown table per workload with the
// mtscn ratios the issue targets.
func WriteThroughputTable(w io.Writer, tps []Throughput) {
	var workloads []string
	seen := map[string]bool{}
	for _, tp := range tps {
		if !seen[tp.Workload] {
			seen[tp.Workload] = true
			workloads = append(workloads, tp.Workload)
		}
	}
	for _, wl := range workloads {
		fmt.Fprintf(w, "Scheduling throughput, scheduler_perf, %s (pods/s, 1 s samples)\n\n", wl)
		fmt.Fprintln(w, "| profile | average | p50 | p90 | p99 | attempt avg (ms) |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
		for _, tp := range tps {
			if tp.Workload != wl {
				continue
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", tp.Profile, tp.Average, tp.Perc50, tp.Perc90, tp.Perc99, tp.AttemptMs)
		}
		m, okM := find(tps, wl, workload.ProfileMtscn)
		d, okD := find(tps, wl, workload.ProfileDefault)
		a, okA := find(tps, wl, workload.ProfileAntiAffinity)
		fmt.Fprintln(w)
		if okM && okD && d.Average > 0 {
			fmt.Fprintf(w, "- mtscn / default = %.2f (target ≥ 0.90): %s\n", m.Average/d.Average, verdict(m.Average/d.Average >= 0.9))
		}
		if okM && okA && a.Average > 0 {
			fmt.Fprintf(w, "- mtscn / anti-affinity = %.2f (target ≥ 3): %s\n", m.Average/a.Average, verdict(m.Average/a.Average >= 3))
		}
		fmt.Fprintln(w)
		writePluginTable(w, wl, tps)
	}
}

// writePluginTable prints the average cost of one call of each plugin at
// each extension point, per profile, for the calls that cost anything.
func writePluginTable(w io.Writer, wl string, tps []Throughput) {
	var profiles []Throughput
	keys := map[string]bool{}
	for _, tp := range tps {
		if tp.Workload != wl || len(tp.PluginMs) == 0 {
			continue
		}
		profiles = append(profiles, tp)
		for k, v := range tp.PluginMs {
			if v >= 0.0005 {
				keys[k] = true
			}
		}
	}
	if len(keys) == 0 {
		return
	}
	var rows []string
	for k := range keys {
		rows = append(rows, k)
	}
	sort.Strings(rows)
	fmt.Fprintf(w, "Plugin cost, %s (µs per call, average of the calls the scheduler sampled; Filter and Score are per node)\n\n| plugin/extension point |", wl)
	for _, p := range profiles {
		fmt.Fprintf(w, " %s |", p.Profile)
	}
	fmt.Fprint(w, "\n|---|")
	for range profiles {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, k := range rows {
		fmt.Fprintf(w, "| %s |", k)
		for _, p := range profiles {
			if v, ok := p.PluginMs[k]; ok {
				fmt.Fprintf(w, " %.1f |", 1000*v)
			} else {
				fmt.Fprint(w, " |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// shorten cuts a message at a comma after at most n bytes.
func shorten(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	cut := strings.LastIndex(msg[:n], ",")
	if cut < 0 {
		cut = n
	}
	return msg[:cut] + ", …"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// WriteQualityTable prints the placement-quality table.
func WriteQualityTable(w io.Writer, size string, rs []quality.Result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "Placement quality, %s (%d nodes, %d pods; audit with the shipped TenantIsolation/SandboxOverhead args)\n\n", size, rs[0].Nodes, rs[0].Pods)
	fmt.Fprintln(w, "| profile | nodes used | lower bounds (memory, /dev/shm, tenancy) | used / memory bound | used / tenancy bound | violations (I1/I2/I3/I4) | overcommitted nodes | pending pods | time (s) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---:|---:|---:|")
	unsettled := false
	row := func(profile string, r quality.Placement, poolNodes int) {
		used := fmt.Sprintf("%d", r.NodesUsed)
		if poolNodes > 0 {
			used = fmt.Sprintf("%d (%d reserved)", r.NodesUsed, poolNodes)
		}
		pending := fmt.Sprintf("%d", r.Pending)
		secs := fmt.Sprintf("%.0f", r.Seconds)
		if !r.Settled {
			unsettled = true
			pending = fmt.Sprintf("%d + %d untried", r.Pending, r.Untried)
			secs += " (timeout)"
		}
		fmt.Fprintf(w, "| %s | %s | %d, %d, %d | %.2f | %.2f | %d (%d/%d/%d/%d) | %d | %s | %s |\n", profile, used, r.LowerBound, r.ShmLowerBound, r.TenancyLowerBound,
			r.OverLowerBound(), r.OverTenancyBound(),
			r.TotalViolations(), r.Violations["I1"], r.Violations["I2"], r.Violations["I3"], r.Violations["I4"], r.OvercommittedNodes, pending, secs)
	}
	for _, r := range rs {
		row(r.Profile, r.Placement, r.PoolNodes)
	}
	churned := false
	for _, r := range rs {
		if r.Churn != nil {
			churned = true
			row(fmt.Sprintf("%s, after churn (−%d/+%d pods)", r.Profile, r.Churn.Deleted, r.Churn.Created), r.Churn.Placement, r.PoolNodes)
		}
	}
	if churned {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "After churn: a third of the pods deleted at random and as many new ones created (copies of random workload pods, the same for every profile); the bounds are those of the pods after churn.")
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		writePendingReasons(w, r.Profile, r.PendingReasons)
		if r.Churn != nil {
			writePendingReasons(w, r.Profile+" after churn", r.Churn.PendingReasons)
		}
	}
	if unsettled {
		fmt.Fprintln(w, "(timeout): the scheduler was still retrying pods when the wait ended; the placement was audited as it stood.")
		fmt.Fprintln(w)
	}
	var pools *quality.Result
	for i := range rs {
		if rs[i].Profile == workload.ProfileDedicatedPools {
			pools = &rs[i]
		}
	}
	for _, m := range rs {
		if m.Profile != workload.ProfileMtscn && m.Profile != quality.ProfileMtscnAllNodes && m.Profile != quality.ProfileMtscnSpread {
			continue
		}
		fmt.Fprintf(w, "- %s violations = %d, overcommitted nodes = %d (target 0): %s\n", m.Profile, m.TotalViolations(), m.OvercommittedNodes, verdict(m.TotalViolations() == 0 && m.OvercommittedNodes == 0))
		fmt.Fprintf(w, "- %s pending pods = %d (target 0): %s\n", m.Profile, m.Pending, verdict(m.Pending == 0))
		fmt.Fprintf(w, "- %s nodes used / memory lower bound = %.2f (target ≤ 1.15): %s\n", m.Profile, m.OverLowerBound(), verdict(m.OverLowerBound() <= 1.15))
		if c := m.Churn; c != nil {
			fmt.Fprintf(w, "- %s after churn: nodes used / memory lower bound = %.2f (target ≤ 1.25): %s; %d violations, %d overcommitted nodes, %d pending\n",
				m.Profile, c.OverLowerBound(), verdict(c.OverLowerBound() <= 1.25), c.TotalViolations(), c.OvercommittedNodes, c.Pending)
		}
		if pools != nil && pools.NodesUsed > 0 {
			poolNodes := max(pools.NodesUsed, pools.PoolNodes)
			saving := 1 - float64(m.NodesUsed)/float64(poolNodes)
			compared := fmt.Sprintf("%.0f%% fewer", 100*saving)
			if saving < 0 {
				compared = fmt.Sprintf("%.0f%% more", -100*saving)
			}
			fmt.Fprintf(w, "- %s uses %s nodes than dedicated-pools (%d reserved) (target ≥ 15%% fewer): %s\n", m.Profile, compared, poolNodes, verdict(saving >= 0.15))
		}
	}
	fmt.Fprintln(w)
}

// writePendingReasons lists the three most frequent reasons pods stayed
// pending.
func writePendingReasons(w io.Writer, what string, reasons map[string]int) {
	if len(reasons) == 0 {
		return
	}
	fmt.Fprintf(w, "Why %s left pods pending:\n\n", what)
	var msgs []string
	for msg := range reasons {
		msgs = append(msgs, msg)
	}
	sort.Slice(msgs, func(i, j int) bool {
		if reasons[msgs[i]] != reasons[msgs[j]] {
			return reasons[msgs[i]] > reasons[msgs[j]]
		}
		return msgs[i] < msgs[j]
	})
	for i, msg := range msgs {
		if i == 3 {
			fmt.Fprintf(w, "- … and %d other messages\n", len(msgs)-3)
			break
		}
		fmt.Fprintf(w, "- %d pods: %s\n", reasons[msg], shorten(msg, 400))
	}
	fmt.Fprintln(w)
}
