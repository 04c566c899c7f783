package auditcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/audit"
)

// rules are every rule audit checks, each exported as a series (0 when it
// holds), so that an alert on `mtscn_audit_violations > 0` sees every rule.
var rules = []audit.Rule{audit.RuleI1, audit.RuleI2, audit.RuleI3, audit.RuleI4, audit.RuleF1, audit.RuleF2, audit.RuleF3}

// watchFlags are the flags of `audit --watch`.
type watchFlags struct {
	watch       bool
	metricsAddr string
	interval    time.Duration
}

func addWatchFlags(fs *pflag.FlagSet) *watchFlags {
	w := &watchFlags{}
	fs.BoolVar(&w.watch, "watch", false,
		"keep running: watch nodes, pods, namespaces and runtime classes and audit again after every change (at most every --interval), printing the report when the violations change; never exits 1")
	fs.StringVar(&w.metricsAddr, "metrics-addr", "",
		"with --watch: serve /metrics (violations by rule as the gauge mtscn_audit_violations{rule}) and /healthz on this address, e.g. :9090 or 127.0.0.1:9090")
	fs.DurationVar(&w.interval, "interval", 10*time.Second,
		"with --watch: the least time between two audits")
	return w
}

func (w *watchFlags) validate() error {
	if !w.watch {
		if w.metricsAddr != "" {
			return errors.New("--metrics-addr needs --watch: a single audit serves no metrics")
		}
		return nil
	}
	if w.interval <= 0 {
		return fmt.Errorf("--interval %s: want a positive duration", w.interval)
	}
	return nil
}

// watcher audits the cluster from an informer cache: again after every
// change, at most once per interval. It exports the violations of the last
// audit by rule.
type watcher struct {
	policy   *audit.Policy
	interval time.Duration
	output   string
	out      io.Writer

	factory        informers.SharedInformerFactory
	nodes          corelisters.NodeLister
	pods           corelisters.PodLister
	namespaces     corelisters.NamespaceLister
	runtimeClasses nodelisters.RuntimeClassLister
	changed        chan struct{}

	registry    *prometheus.Registry
	violations  *prometheus.GaugeVec
	objects     *prometheus.GaugeVec
	runs        *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	// audited is set after the first successful audit (/healthz).
	audited atomic.Bool
	// lastReport is the previous report's violations, printed again only
	// when they change.
	lastReport []byte
}

func newWatcher(client kubernetes.Interface, policy *audit.Policy, interval time.Duration, output string, out io.Writer) *watcher {
	f := informers.NewSharedInformerFactory(client, 0)
	w := &watcher{
		policy: policy, interval: interval, output: output, out: out,
		factory:        f,
		nodes:          f.Core().V1().Nodes().Lister(),
		pods:           f.Core().V1().Pods().Lister(),
		namespaces:     f.Core().V1().Namespaces().Lister(),
		runtimeClasses: f.Node().V1().RuntimeClasses().Lister(),
		changed:        make(chan struct{}, 1),
		registry:       prometheus.NewRegistry(),
		violations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtscn_audit_violations",
			Help: "Violations of each rule (I1-I4 isolation, F1-F3 VM limits; docs/design.md) found by the last audit.",
		}, []string{"rule"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtscn_audit_objects",
			Help: "Objects the last audit checked, by kind (nodes, pods, namespaces, runtimeclasses).",
		}, []string{"kind"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtscn_audit_runs_total",
			Help: "Audits run, by result (success, error).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtscn_audit_last_success_timestamp_seconds",
			Help: "Unix time of the last successful audit.",
		}),
	}
	w.registry.MustRegister(w.violations, w.objects, w.runs, w.lastSuccess)
	w.runs.WithLabelValues("success")
	w.runs.WithLabelValues("error")
	notify := func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{
		f.Core().V1().Nodes().Informer(), f.Core().V1().Pods().Informer(),
		f.Core().V1().Namespaces().Informer(), f.Node().V1().RuntimeClasses().Informer(),
	} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			// Only fails on a stopped informer; these were just created.
			panic(fmt.Sprintf("adding an event handler: %v", err))
		}
	}
	return w
}

// Handler serves /metrics and /healthz (200 once an audit succeeded).
func (w *watcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(w.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if !w.audited.Load() {
			http.Error(rw, "no audit has succeeded yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	return mux
}

// Run serves the metrics on metricsAddr (when set), syncs the informers,
// then audits now and after every change until ctx is done.
func (w *watcher) Run(ctx context.Context, metricsAddr string) error {
	logger := klog.FromContext(ctx)
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr %s: %w", metricsAddr, err)
		}
		srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error(err, "metrics server stopped")
			}
		}()
		defer srv.Close()
		logger.Info("serving /metrics and /healthz", "address", ln.Addr().String())
	}
	w.factory.Start(ctx.Done())
	defer w.factory.Shutdown()
	for typ, ok := range w.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watching %v: the cache did not sync", typ)
		}
	}
	logger.Info("watching the cluster", "policy", w.policy.String(), "interval", w.interval)
	for {
		// Events seen so far are part of this audit.
		select {
		case <-w.changed:
		default:
		}
		if err := w.auditOnce(ctx); err != nil {
			logger.Error(err, "audit failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.interval):
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
		}
	}
}

// auditOnce audits the cached objects, updates the metrics and prints the
// report when its violations differ from the last printed one.
func (w *watcher) auditOnce(ctx context.Context) error {
	snap, err := w.snapshot()
	if err == nil {
		var report Report
		report, err = auditSnapshot(snap, w.policy)
		if err == nil {
			w.record(report)
			return w.print(ctx, report)
		}
	}
	w.runs.WithLabelValues("error").Inc()
	return err
}

func (w *watcher) snapshot() (audit.Snapshot, error) {
	var snap audit.Snapshot
	var err error
	if snap.Nodes, err = w.nodes.List(labels.Everything()); err != nil {
		return snap, fmt.Errorf("listing cached nodes: %w", err)
	}
	if snap.Pods, err = w.pods.List(labels.Everything()); err != nil {
		return snap, fmt.Errorf("listing cached pods: %w", err)
	}
	if snap.Namespaces, err = w.namespaces.List(labels.Everything()); err != nil {
		return snap, fmt.Errorf("listing cached namespaces: %w", err)
	}
	if snap.RuntimeClasses, err = w.runtimeClasses.List(labels.Everything()); err != nil {
		return snap, fmt.Errorf("listing cached runtime classes: %w", err)
	}
	return snap, nil
}

func (w *watcher) record(r Report) {
	count := map[audit.Rule]int{}
	for _, v := range r.Violations {
		count[v.Rule]++
	}
	for _, rule := range rules {
		w.violations.WithLabelValues(string(rule)).Set(float64(count[rule]))
	}
	w.objects.WithLabelValues("nodes").Set(float64(r.Nodes))
	w.objects.WithLabelValues("pods").Set(float64(r.Pods))
	w.objects.WithLabelValues("namespaces").Set(float64(r.Namespaces))
	w.objects.WithLabelValues("runtimeclasses").Set(float64(r.RuntimeClasses))
	w.runs.WithLabelValues("success").Inc()
	w.lastSuccess.SetToCurrentTime()
	w.audited.Store(true)
}

func (w *watcher) print(ctx context.Context, r Report) error {
	var key bytes.Buffer
	if err := Write(&key, "json", Report{Violations: r.Violations}); err != nil {
		return err
	}
	if w.lastReport != nil && bytes.Equal(key.Bytes(), w.lastReport) {
		klog.FromContext(ctx).V(2).Info("violations unchanged", "violations", len(r.Violations))
		return nil
	}
	w.lastReport = key.Bytes()
	return Write(w.out, w.output, r)
}
