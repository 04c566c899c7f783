package agent

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/version"
)

// metricsSubsystem prefixes every metric: mtscn_node_*.
const metricsSubsystem = "mtscn_node"

// Publish results, the result label of mtscn_node_publishes_total.
const (
	resultCreated   = "created"
	resultUpdated   = "updated"
	resultUnchanged = "unchanged"
)

// metrics are the agent's Prometheus metrics, on their own registry as in
// nfd-worker (sigs.k8s.io/node-feature-discovery/pkg/nfd-worker/metrics.go).
type metrics struct {
	registry          *prometheus.Registry
	discoveryDuration prometheus.Histogram
	sourceErrors      *prometheus.GaugeVec
	publishes         *prometheus.CounterVec
	publishErrors     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		discoveryDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Subsystem: metricsSubsystem,
			Name:      "discovery_duration_seconds",
			Help:      "Time taken by one full discovery of the node's features.",
			Buckets:   []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
		sourceErrors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Subsystem: metricsSubsystem,
			Name:      "source_errors",
			Help:      "1 when the last discovery of the source failed, else 0.",
		}, []string{"source"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: metricsSubsystem,
			Name:      "publishes_total",
			Help:      "Publications by result: created, updated, or unchanged (no write).",
		}, []string{"result"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Subsystem: metricsSubsystem,
			Name:      "publish_errors_total",
			Help:      "Failed attempts to publish the node's features.",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Subsystem: metricsSubsystem,
		Name:      "build_info",
		Help:      "Build of the mtscn node agent; the value is always 1.",
		ConstLabels: prometheus.Labels{
			"version": version.Version, "commit": version.GitCommit, "go_version": runtime.Version(),
		},
	})
	buildInfo.Set(1)
	m.registry.MustRegister(m.discoveryDuration, m.sourceErrors, m.publishes, m.publishErrors, buildInfo)
	for _, s := range discover.AllSources {
		m.sourceErrors.WithLabelValues(s).Set(0)
	}
	return m
}
