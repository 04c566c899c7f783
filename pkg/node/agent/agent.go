package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	nfdclient "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	nfdrules "github.com/mtscn/mtscn/nfd-rules"
	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/node/hostpath"
	"github.com/mtscn/mtscn/pkg/node/kubeclient"
	"github.com/mtscn/mtscn/pkg/node/overhead"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/version"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// retryAfterError is how soon a failed round is retried (capped by the interval).
const retryAfterError = 10 * time.Second

// Agent discovers and publishes one node's features.
type Agent struct {
	cfg          Config
	discoverOpts discover.Options
	nfdClient    nfdclient.Interface
	kubeClient   kubernetes.Interface
	metrics      *metrics
	// published is set after the first successful publish (/healthz).
	published atomic.Bool

	// rules are nfd-rules/, run by node-labels mode as nfd-master would.
	rules []nfdv1alpha1.NodeFeatureRule
	// ready, when set, gates /readyz in addition to the first publish
	// (e.g. "Kata is installed and verified").
	ready func() error

	mu   sync.Mutex
	last *discover.Result
	// lastErrors are the source errors of the previous discovery: an
	// Event is recorded only when one appears or changes.
	lastErrors map[string]string

	// windows hold the observed sandbox overhead per handler, publication
	// what of it was last published (overhead.go).
	windows         *overhead.Windows
	publication     *overhead.Publication
	overheadMetrics overheadMetrics

	// noteCheckInterval is how often the withdrawal note is checked.
	noteCheckInterval time.Duration
}

// WithReadiness adds a check to /readyz: it answers 200 only when the
// features were published and check returns nil.
func WithReadiness(check func() error) Option { return func(a *Agent) { a.ready = check } }

// Option customises an Agent (tests inject clients and fixture hosts).
type Option func(*Agent)

// WithNFDClient sets the NodeFeature client instead of building one from the kubeconfig.
func WithNFDClient(c nfdclient.Interface) Option { return func(a *Agent) { a.nfdClient = c } }

// WithKubeClient sets the Kubernetes client instead of building one from the kubeconfig.
func WithKubeClient(c kubernetes.Interface) Option { return func(a *Agent) { a.kubeClient = c } }

// WithDiscoverOptions adjusts the discovery options derived from the config.
func WithDiscoverOptions(f func(*discover.Options)) Option {
	return func(a *Agent) { f(&a.discoverOpts) }
}

// New validates cfg and builds an agent. Clients not injected are built
// from cfg.Kubeconfig (in-cluster when empty) unless Publish is none.
func New(cfg Config, opts ...Option) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	a := &Agent{cfg: cfg, discoverOpts: cfg.discoverOptions(), metrics: newMetrics(), windows: overhead.NewWindows(0),
		publication: overhead.NewPublication(0)}
	a.overheadMetrics = newOverheadMetrics(a.metrics.registry)
	for _, o := range opts {
		o(a)
	}
	if cfg.Publish == PublishNodeLabels {
		rules, err := nfdrules.Load()
		if err != nil {
			return nil, fmt.Errorf("loading the embedded nfd-rules: %w", err)
		}
		a.rules = rules
	}
	needNFD := cfg.Publish == PublishNodeFeature && a.nfdClient == nil
	// The Kubernetes client labels the Node (and sets its capacity) in node-labels mode and
	// records Events about it (a discovery source that fails) in both.
	needKube := a.kubeClient == nil && (cfg.Publish == PublishNodeLabels || needNFD)
	if !needNFD && !needKube {
		return a, nil
	}
	rc, err := kubeclient.Config(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if needNFD {
		jsonRC := rest.CopyConfig(rc)
		jsonRC.ContentType = "application/json" // NFD's types have no protobuf
		if a.nfdClient, err = nfdclient.NewForConfig(jsonRC); err != nil {
			return nil, fmt.Errorf("creating NodeFeature client: %w", err)
		}
		needKube = a.kubeClient == nil // pods and RuntimeClasses for the observed overhead
	}
	if needKube {
		if a.kubeClient, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("creating Kubernetes client: %w", err)
		}
	}
	return a, nil
}

// Run discovers and publishes now and then every interval until ctx is
// done, serving /healthz and /metrics on cfg.ListenAddress. With Oneshot it
// returns after the first round, with that round's error.
func (a *Agent) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if a.cfg.Oneshot {
		return a.RunOnce(ctx)
	}
	if a.cfg.ListenAddress != "" {
		ln, err := net.Listen("tcp", a.cfg.ListenAddress)
		if err != nil {
			return fmt.Errorf("listening on %s for /healthz and /metrics: %w", a.cfg.ListenAddress, err)
		}
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error(err, "metrics and health server stopped")
			}
		}()
		defer srv.Close()
		logger.Info("serving /healthz and /metrics", "address", ln.Addr().String())
	}
	logger.Info("node agent started", "node", a.cfg.NodeName, "publish", a.cfg.Publish,
		"interval", a.cfg.Interval.Duration, "hostRoot", a.cfg.HostRoot, "version", version.Version)
	noteChanged := a.watchWithdrawals(ctx)
	for {
		wait := a.cfg.Interval.Duration
		var next <-chan time.Time
		if err := a.RunOnce(ctx); err != nil {
			logger.Error(err, "publishing node features failed")
			if wait == 0 || wait > retryAfterError {
				wait = retryAfterError
			}
		}
		if wait > 0 {
			next = time.After(wait)
		}
		select {
		case <-ctx.Done():
			logger.Info("node agent stopping")
			return nil
		case <-next:
		case <-noteChanged:
			logger.Info("the installer's withdrawal note changed; discovering now", "note", a.notePath())
		}
	}
}

// DefaultNoteCheckInterval is how often the agent checks, between its full
// rounds, whether the installer's withdrawal note changed (one stat).
const DefaultNoteCheckInterval = 2 * time.Second

// WithNoteCheckInterval sets how often the withdrawal note is checked.
func WithNoteCheckInterval(d time.Duration) Option {
	return func(a *Agent) { a.noteCheckInterval = d }
}

// notePath is the host path of the installer's withdrawal note, "" when
// discovery does not read it.
func (a *Agent) notePath() string {
	switch p := a.discoverOpts.WithdrawnNote; p {
	case "":
		return withdrawal.DefaultPath
	case "none":
		return ""
	default:
		return p
	}
}

// watchWithdrawals checks the installer's withdrawal note every
// noteCheckInterval (a stat, no read) and signals the returned channel when
// it changed, so that a withdrawn handler's label goes away within seconds
// rather than at the next full round (docs/node-agent.md#one-writer-per-label).
func (a *Agent) watchWithdrawals(ctx context.Context) <-chan struct{} {
	changed := make(chan struct{}, 1)
	p := a.notePath()
	if p == "" || a.cfg.Publish == PublishNone {
		return changed
	}
	every := a.noteCheckInterval
	if every <= 0 {
		every = DefaultNoteCheckInterval
	}
	root := hostpath.Root(a.discoverOpts.HostRoot)
	if root == "" {
		root = "/"
	}
	last := withdrawal.Stamp(root, p)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if cur := withdrawal.Stamp(root, p); cur != last {
				last = cur
				select {
				case changed <- struct{}{}:
				default: // a round is already due
				}
			}
		}
	}()
	return changed
}

// RunOnce discovers the node's features and publishes them if they changed.
func (a *Agent) RunOnce(ctx context.Context) error {
	res := a.Discover(ctx)
	if err := ctx.Err(); err != nil {
		// Sources cut short by the shutdown: never publish a partial result.
		return fmt.Errorf("discovery interrupted: %w", err)
	}
	a.sampleOverhead(ctx, res)
	if err := a.Publish(ctx, res); err != nil {
		a.metrics.publishErrors.Inc()
		return err
	}
	a.published.Store(true)
	return nil
}

// Discover runs every configured source and records the metrics.
func (a *Agent) Discover(ctx context.Context) *discover.Result {
	start := time.Now()
	res := discover.Discover(ctx, a.discoverOpts)
	if ctx.Err() != nil {
		return res // interrupted: neither metrics nor Events
	}
	a.metrics.discoveryDuration.Observe(time.Since(start).Seconds())
	for _, s := range discover.AllSources {
		v := 0.0
		if _, failed := res.Errors[s]; failed {
			v = 1
		}
		a.metrics.sourceErrors.WithLabelValues(s).Set(v)
	}
	a.mu.Lock()
	a.last = res
	prev := a.lastErrors
	a.lastErrors = res.Errors
	a.mu.Unlock()
	a.recordSourceErrors(ctx, prev, res.Errors)
	return res
}

// EventReasonDiscoveryFailed is the reason of the Warning Event recorded on
// the Node when a discovery source fails (e.g. /dev/kvm exists but the
// agent may not open it).
const EventReasonDiscoveryFailed = "DiscoveryFailed"

// recordSourceErrors records a Warning Event on the agent's Node for each
// source error that appeared or changed since the previous discovery; the
// metric mtscn_node_source_errors and the log report every round. Without
// a Kubernetes client (publish none, or a test) it does nothing.
func (a *Agent) recordSourceErrors(ctx context.Context, prev, cur map[string]string) {
	if a.kubeClient == nil || a.cfg.NodeName == "" {
		return
	}
	logger := klog.FromContext(ctx)
	for _, source := range discover.AllSources {
		msg, failed := cur[source]
		if !failed || prev[source] == msg {
			continue
		}
		text := "discovery source " + source + " failed: " + msg
		if len(text) > 1024 {
			text = text[:1021] + "..."
		}
		now := metav1.Now()
		ev := &v1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: a.cfg.NodeName + ".", Namespace: metav1.NamespaceDefault},
			InvolvedObject: v1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: a.cfg.NodeName},
			Reason:         EventReasonDiscoveryFailed,
			Message:        text,
			Type:           v1.EventTypeWarning,
			Source:         v1.EventSource{Component: "mtscn-node", Host: a.cfg.NodeName},
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}
		if _, err := a.kubeClient.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			logger.Error(err, "recording an Event about a failed discovery source", "node", a.cfg.NodeName, "source", source)
		}
	}
}

// Publish writes res in the configured mode.
func (a *Agent) Publish(ctx context.Context, res *discover.Result) error {
	var result string
	var err error
	switch a.cfg.Publish {
	case PublishNodeFeature:
		result, err = a.publishNodeFeature(ctx, res)
	case PublishNodeLabels:
		result, err = a.publishNodeLabels(ctx, res)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	a.metrics.publishes.WithLabelValues(result).Inc()
	return nil
}

// publishNodeFeature creates or updates the node's NodeFeature, writing
// only when the desired object differs (as nfd-worker's
// updateNodeFeatureObject does).
func (a *Agent) publishNodeFeature(ctx context.Context, res *discover.Result) (string, error) {
	logger := klog.FromContext(ctx)
	client := a.nfdClient.NfdV1alpha1().NodeFeatures(a.cfg.Namespace)
	name := NodeFeatureName(a.cfg.NodeName)
	spec := nfdv1alpha1.NodeFeatureSpec{Features: *res.Features(), Labels: discover.KataLabels(res)}
	a.addOverheadFeature(&spec.Features)
	maps.Copy(spec.Labels, a.overheadLabels())

	cur, err := client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		nf := &nfdv1alpha1.NodeFeature{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.cfg.Namespace}, Spec: spec}
		a.setMeta(&nf.ObjectMeta)
		if _, err := client.Create(ctx, nf, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("creating NodeFeature %s/%s: %w", a.cfg.Namespace, name, err)
		}
		logger.Info("created NodeFeature", "nodefeature", klog.KObj(nf))
		return resultCreated, nil
	}
	if err != nil {
		return "", fmt.Errorf("getting NodeFeature %s/%s: %w", a.cfg.Namespace, name, err)
	}
	want := cur.DeepCopy()
	a.setMeta(&want.ObjectMeta)
	want.Spec = spec
	if apiequality.Semantic.DeepEqual(cur, want) {
		logger.V(4).Info("NodeFeature unchanged", "nodefeature", klog.KObj(cur))
		return resultUnchanged, nil
	}
	if _, err := client.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("updating NodeFeature %s/%s: %w", a.cfg.Namespace, name, err)
	}
	logger.Info("updated NodeFeature", "nodefeature", klog.KObj(want))
	return resultUpdated, nil
}

// setMeta sets the node-name label, the version annotation and the owner
// reference to the agent's Pod (so the object goes away with the DaemonSet).
func (a *Agent) setMeta(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[nfdv1alpha1.NodeFeatureObjNodeNameLabel] = a.cfg.NodeName
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[wellknown.AnnotationNodeAgentVersion] = version.Version
	if a.cfg.PodName != "" {
		m.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Pod", Name: a.cfg.PodName, UID: types.UID(a.cfg.PodUID),
		}}
	}
}

// Handler serves /healthz (200 once the features were published, 503
// before), /readyz (the same, plus the WithReadiness check) and /metrics.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.published.Load() {
			http.Error(w, "node features not published yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.published.Load() {
			http.Error(w, "node features not published yet", http.StatusServiceUnavailable)
			return
		}
		if a.ready != nil {
			if err := a.ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// Last returns the most recent discovery result (nil before the first).
func (a *Agent) Last() *discover.Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}
