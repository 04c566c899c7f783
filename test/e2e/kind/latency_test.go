package kind

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// latencyRow is one configuration's measurements.
type latencyRow struct {
	runtime, scheduler string
	pods               int
	schedule, start    []time.Duration
}

// measure creates n pods in ns at once and records, from a watch started
// before the first create, when each was bound and when it became Ready.
// Timestamps are taken on this machine as watch events arrive (API
// timestamps have a one-second resolution).
func measure(ctx context.Context, client kubernetes.Interface, ns, runtimeClass, scheduler string, n int) (latencyRow, error) {
	row := latencyRow{runtime: runtimeName(runtimeClass), scheduler: scheduler, pods: n}
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return row, fmt.Errorf("watching pods in %s: %w", ns, err)
	}
	defer w.Stop()

	var mu sync.Mutex
	created := map[string]time.Time{}
	for i := range n {
		name := fmt.Sprintf("p-%03d", i)
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		if _, err := client.CoreV1().Pods(ns).Create(ctx, pod(ns, name, runtimeClass, scheduler), metav1.CreateOptions{}); err != nil {
			return row, fmt.Errorf("creating pod %s/%s: %w", ns, name, err)
		}
	}

	bound := map[string]time.Time{}
	readyAt := map[string]time.Time{}
	timeout := time.After(podStartLimit)
	for len(readyAt) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return row, fmt.Errorf("watch on %s closed after %d of %d pods were ready", ns, len(readyAt), n)
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			p, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			now := time.Now()
			if _, seen := bound[p.Name]; !seen && p.Spec.NodeName != "" {
				bound[p.Name] = now
			}
			if _, seen := readyAt[p.Name]; !seen && ready(p) {
				readyAt[p.Name] = now
			}
		case <-timeout:
			return row, fmt.Errorf("%d of %d pods in %s ready after %v", len(readyAt), n, ns, podStartLimit)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for name, c := range created {
		row.schedule = append(row.schedule, bound[name].Sub(c))
		row.start = append(row.start, readyAt[name].Sub(bound[name]))
	}
	return row, nil
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100).
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

func formatTable(rows []latencyRow) string {
	var b strings.Builder
	b.WriteString("| runtime | scheduler | pods | scheduling p50 | scheduling p99 | sandbox start p50 | sandbox start p99 |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s |\n", r.runtime, r.scheduler, r.pods,
			ms(percentile(r.schedule, 50)), ms(percentile(r.schedule, 99)), ms(percentile(r.start, 50)), ms(percentile(r.start, 99)))
	}
	return b.String()
}
