package kind

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPercentile checks the nearest-rank percentiles the latency table
// reports (this runs without a cluster).
func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", in: nil, p: 50, want: 0},
		{name: "one sample", in: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of unsorted", in: ms(30, 10, 20, 40), p: 50, want: 20 * time.Millisecond},
		{name: "p99 of 20 is the maximum", in: ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 200), p: 99, want: 200 * time.Millisecond},
		{name: "p99 of 200 drops the two largest", in: append(ms(make([]int, 197)...), ms(100, 500, 900)...), p: 99, want: 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, percentile(tc.in, tc.p)); diff != "" {
				t.Errorf("percentile(%v) (-want,+got):\n%s", tc.p, diff)
			}
		})
	}
}

func TestFormatTable(t *testing.T) {
	got := formatTable([]latencyRow{{runtime: "kata-qemu", scheduler: "mtscn-scheduler", pods: 2,
		schedule: []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}, start: []time.Duration{time.Second, 3 * time.Second}}})
	want := "| runtime | scheduler | pods | scheduling p50 | scheduling p99 | sandbox start p50 | sandbox start p99 |\n" +
		"|---|---|---:|---:|---:|---:|---:|\n" +
		"| kata-qemu | mtscn-scheduler | 2 | 10 ms | 30 ms | 1000 ms | 3000 ms |\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table (-want,+got):\n%s", diff)
	}
}
