// Command benchreport runs the placement-quality benchmark and turns the
// results of `make bench` into tables, JSON and an SVG chart.
//
//	benchreport quality -size small -out bench/results/quality-small.json
//	benchreport report -size small -perf bench/results/perf-small -quality bench/results/quality-small.json -out bench/results
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/bench/quality"
	"github.com/mtscn/mtscn/bench/report"
	"github.com/mtscn/mtscn/bench/workload"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchreport quality|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "quality":
		err = runQuality(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want quality or report", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
}

func sizeByName(name string) (workload.Size, error) {
	switch name {
	case "small":
		return workload.Small, nil
	case "full":
		return workload.Full, nil
	}
	return workload.Size{}, fmt.Errorf("-size %q: want small or full", name)
}

func runQuality(args []string) error {
	fs := flag.NewFlagSet("quality", flag.ExitOnError)
	size := fs.String("size", "small", "workload size: small (500 nodes, 5000 pods) or full (5000 nodes, 10000 pods)")
	out := fs.String("out", "bench/results/quality-small.json", "JSON file to write")
	profiles := fs.String("profiles", strings.Join(quality.Profiles, ","), "comma-separated profiles")
	rcPath := fs.String("runtime-classes", "manifests/runtimeclasses/runtimeclasses.yaml", "RuntimeClass manifests")
	cfgPath := fs.String("scheduler-config", "manifests/scheduler/scheduler-config.yaml", "the shipped scheduler configuration")
	spreadPath := fs.String("spread-scheduler-config", "manifests/scheduler/scheduler-config-spread.yaml", "the spreading alternative (profile mtscn-spread)")
	timeout := fs.Duration("timeout", 4*time.Minute, "how long to wait for one profile's scheduler to settle before auditing the placement as it stands")
	churn := fs.Bool("churn", true, "after each settled placement, delete a third of the pods at random, create as many new ones and audit again")
	heapDir := fs.String("heap-profile-dir", "", "write heap-<profile>.pprof here once each profile's placement settled (the scheduler's caches are live then)")
	seed := fs.Uint64("seed", 1, "seed of the churn phase's random choices (the same for every profile)")
	klog.InitFlags(fs)
	_ = fs.Set("v", "0")
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz, err := sizeByName(*size)
	if err != nil {
		return err
	}
	rcs, err := os.ReadFile(*rcPath)
	if err != nil {
		return fmt.Errorf("reading -runtime-classes: %w", err)
	}
	profs := strings.Split(*profiles, ",")
	// Each profile may wait -timeout for its placement and again for its
	// churn phase; the rest (creating the cluster, auditing) takes minutes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(2*len(profs))*(*timeout)+30*time.Minute)
	defer cancel()
	results, err := quality.Run(ctx, quality.Options{
		Size:                  sz,
		Profiles:              profs,
		RuntimeClasses:        rcs,
		SchedulerConfig:       *cfgPath,
		SpreadSchedulerConfig: *spreadPath,
		Progress:              os.Stderr,
		Timeout:               *timeout,
		Churn:                 *churn,
		Seed:                  *seed,
		HeapProfileDir:        *heapDir,
	})
	if err != nil {
		return err
	}
	report.WriteQualityTable(os.Stdout, sz.Name, results)
	return writeJSON(*out, results)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	perfDir := fs.String("perf", "bench/results/perf-small", "directory with scheduler_perf's BenchmarkPerfScheduling_*.json")
	qualityFile := fs.String("quality", "bench/results/quality-small.json", "bench/quality results (JSON); empty to skip")
	size := fs.String("size", "small", "workload size the quality results are for")
	outDir := fs.String("out", "bench/results", "directory for results-<size>.json, results-<size>.md and chart-<size>.svg")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz, err := sizeByName(*size)
	if err != nil {
		return err
	}
	res := report.Results{Machine: machine(), Size: sz.Name}
	all, err := report.ReadPerf(*perfDir)
	if err != nil {
		return err
	}
	for _, tp := range all {
		if tp.Workload == sz.Name {
			res.Throughput = append(res.Throughput, tp)
		}
	}
	if *qualityFile != "" {
		raw, err := os.ReadFile(*qualityFile)
		if err != nil {
			return fmt.Errorf("reading -quality: %w", err)
		}
		if err := json.Unmarshal(raw, &res.Quality); err != nil {
			return fmt.Errorf("decoding %s: %w", *qualityFile, err)
		}
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Machine: %s\n\n", res.Machine)
	report.WriteThroughputTable(&md, res.Throughput)
	report.WriteQualityTable(&md, sz.Name, res.Quality)
	fmt.Print(md.String())
	if err := os.WriteFile(filepath.Join(*outDir, "results-"+*size+".md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("writing the markdown tables: %w", err)
	}
	if err := writeJSON(filepath.Join(*outDir, "results-"+*size+".json"), res); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*outDir, "chart-"+*size+".svg"))
	if err != nil {
		return fmt.Errorf("creating the chart: %w", err)
	}
	if err := report.WriteSVG(f, report.Panels(res)); err != nil {
		f.Close()
		return fmt.Errorf("drawing the chart: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	fmt.Printf("wrote %s/{results-%s.md,results-%s.json,chart-%s.svg}\n", *outDir, *size, *size, *size)
	return nil
}

// machine describes the machine: CPU model, cores, memory, Go, load.
func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					cpu = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	load := ""
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(data))[:3], " ") + " when the report was written"
	}
	return fmt.Sprintf("%s, %d cores%s, %s %s/%s%s", cpu, runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}
