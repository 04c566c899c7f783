package harness

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/profile"
	"k8s.io/kubernetes/test/integration/framework"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/schedulercmd"
)

// keyFiles are the /tmp/insecure_test_key* files this process's API servers
// created; Main removes them at the end.
var (
	keyFilesMu sync.Mutex
	keyFiles   = sets.New[string]()
)

// Main runs an integration test package: it starts one etcd for the
// package (the binary `etcd` must be on PATH; `make test-integration` builds
// it), runs the tests, stops etcd and removes the files the framework leaves
// behind. Call it from TestMain.
func Main(m *testing.M) {
	flag.Parse()
	if _, err := exec.LookPath("etcd"); err != nil {
		fmt.Fprintln(os.Stderr, "integration tests need etcd on PATH: run `make test-integration`, or `bash hack/etcd.sh && export PATH=$PWD/bin:$PATH`")
		os.Exit(1)
	}
	url, stop, err := framework.RunCustomEtcd(klog.Background(), "mtscn_integration_etcd", nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting etcd: %v\n", err)
		os.Exit(1)
	}
	os.Setenv("KUBE_INTEGRATION_ETCD_URL", url)
	code := m.Run()
	stop()
	keyFilesMu.Lock()
	for f := range keyFiles {
		_ = os.Remove(f)
	}
	keyFilesMu.Unlock()
	os.Exit(code)
}

// RepoRoot returns the repository's top directory (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// ShippedConfig is the path of the shipped scheduler configuration.
func ShippedConfig() string {
	return filepath.Join(RepoRoot(), "manifests", "scheduler", "scheduler-config.yaml")
}

// ControlPlane is a running kube-apiserver with a superuser client.
type ControlPlane struct {
	// Client is a loopback superuser client.
	Client kubernetes.Interface
	// Config is the loopback superuser REST config; copy it before changing
	// it (e.g. for impersonation).
	Config *rest.Config
	// Ctx is cancelled when the test ends.
	Ctx context.Context
}

func listKeyFiles() sets.Set[string] {
	m, _ := filepath.Glob("/tmp/insecure_test_key*")
	return sets.New(m...)
}

// StartControlPlane starts a kube-apiserver (RBAC and Node authorizers on,
// default admission plugins) for this test. It is stopped at t.Cleanup.
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	before := listKeyFiles()
	client, cfg, teardown := framework.StartTestServer(ctx, t, framework.TestServerSetup{
		ModifyServerRunOptions: func(opts *apiserveroptions.ServerRunOptions) {
			// No controller-manager runs: nothing creates default
			// ServiceAccounts or lifts the not-ready taint of new nodes.
			// Priority and RuntimeClass admission stay on: preemption and
			// pod overhead need them.
			opts.Admission.GenericAdmission.DisablePlugins = []string{"ServiceAccount", "TaintNodesByCondition"}
		},
	})
	trackKeyFiles(before)
	t.Cleanup(func() {
		cancel()
		teardown()
	})
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return &ControlPlane{Client: client, Config: cfg, Ctx: ctx}
}

// StartFullControlPlane starts kube-apiserver with its whole server chain
// (the apiextensions server included, so CustomResourceDefinitions are
// served, and the aggregator), RBAC and Node authorization, and the default
// admission plugins minus those that need a controller-manager. flags are
// extra kube-apiserver flags (feature gates, runtime-config). It is slower
// to start than StartControlPlane; use it when a test needs CRDs.
func StartFullControlPlane(t testing.TB, flags ...string) *ControlPlane {
	t.Helper()
	flags = append([]string{
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
	}, flags...)
	before := listKeyFiles()
	server := kubeapiservertesting.StartTestServerOrDie(t, nil, flags, framework.SharedEtcd())
	trackKeyFiles(before)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		server.TearDownFn()
	})
	cfg := rest.CopyConfig(server.ClientConfig)
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return &ControlPlane{Client: client, Config: cfg, Ctx: ctx}
}

func trackKeyFiles(before sets.Set[string]) {
	created := listKeyFiles().Difference(before)
	keyFilesMu.Lock()
	keyFiles = keyFiles.Union(created)
	keyFilesMu.Unlock()
}

// InstallCRDs creates the CustomResourceDefinitions in the given YAML files
// (multi-document) and waits until they are established. The control plane
// must come from StartFullControlPlane.
func (cp *ControlPlane) InstallCRDs(t testing.TB, files ...string) {
	t.Helper()
	client, err := apiextensionsclient.NewForConfig(cp.Config)
	if err != nil {
		t.Fatalf("creating apiextensions client: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading CRDs: %v", err)
		}
		for _, doc := range SplitYAML(data) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, crd); err != nil {
				t.Fatalf("decoding CRD in %s: %v", f, err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				continue
			}
			if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(cp.Ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating CRD %s: %v", crd.Name, err)
			}
			err := wait.PollUntilContextTimeout(cp.Ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				for _, c := range got.Status.Conditions {
					if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				t.Fatalf("CRD %s not established: %v", crd.Name, err)
			}
		}
	}
	// Let discovery catch up so that clients can use the new kinds.
	time.Sleep(time.Second)
}

// SplitYAML splits a multi-document YAML stream into its non-empty
// documents (documents holding only comments are dropped).
func SplitYAML(data []byte) [][]byte {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err != nil {
			return docs
		}
		var obj map[string]any
		if yaml.Unmarshal(doc, &obj) == nil && len(obj) > 0 {
			docs = append(docs, doc)
		}
	}
}

var resourcePods = resource.NewQuantity(110, resource.DecimalSI)

// SchedulerOption changes how StartScheduler builds the scheduler.
type SchedulerOption func(*schedulerOptions)

type schedulerOptions struct {
	configFile     string
	mutators       []func(*schedconfig.KubeSchedulerProfile)
	defaultProfile bool
}

// WithConfigFile loads another KubeSchedulerConfiguration than the shipped one.
func WithConfigFile(path string) SchedulerOption {
	return func(o *schedulerOptions) { o.configFile = path }
}

// WithProfileMutator changes every profile after the file is loaded and
// defaulted (e.g. to change one plugin's args).
func WithProfileMutator(f func(*schedconfig.KubeSchedulerProfile)) SchedulerOption {
	return func(o *schedulerOptions) { o.mutators = append(o.mutators, f) }
}

// WithDefaultProfile adds the upstream default-scheduler profile next to
// mtscn's, so that a test can compare both on the same cluster.
func WithDefaultProfile() SchedulerOption {
	return func(o *schedulerOptions) { o.defaultProfile = true }
}

// LoadConfig decodes and defaults a KubeSchedulerConfiguration file the way
// kube-scheduler does (strict decoding, mtscn's args registered).
func LoadConfig(t testing.TB, path string) *schedconfig.KubeSchedulerConfiguration {
	t.Helper()
	cfg, err := options.LoadConfigFromFile(klog.Background(), path)
	if err != nil {
		t.Fatalf("loading scheduler config %s: %v", path, err)
	}
	return cfg
}

// StartScheduler runs the scheduler with the shipped configuration (leader
// election off) until the test ends, and waits for its caches to sync.
func (cp *ControlPlane) StartScheduler(t testing.TB, opts ...SchedulerOption) *scheduler.Scheduler {
	t.Helper()
	o := schedulerOptions{configFile: ShippedConfig()}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := LoadConfig(t, o.configFile)
	profiles := cfg.Profiles
	for i := range profiles {
		for _, m := range o.mutators {
			m(&profiles[i])
		}
	}
	if o.defaultProfile {
		dir := t.TempDir()
		p := filepath.Join(dir, "default.yaml")
		if err := os.WriteFile(p, []byte("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		profiles = append(profiles, LoadConfig(t, p).Profiles...)
	}

	ctx, cancel := context.WithCancel(cp.Ctx)
	informerFactory := scheduler.NewInformerFactory(cp.Client, 0)
	dynClient := dynamic.NewForConfigOrDie(cp.Config)
	dynInformerFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dynClient, 0, v1.NamespaceAll, nil)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cp.Client.EventsV1()})
	sched, err := scheduler.New(ctx, cp.Client, informerFactory, dynInformerFactory,
		profile.NewRecorderFactory(broadcaster),
		scheduler.WithKubeConfig(cp.Config),
		scheduler.WithProfiles(profiles...),
		scheduler.WithFrameworkOutOfTreeRegistry(schedulercmd.Registry()),
		scheduler.WithParallelism(cfg.Parallelism),
		scheduler.WithPodInitialBackoffSeconds(cfg.PodInitialBackoffSeconds),
		scheduler.WithPodMaxBackoffSeconds(cfg.PodMaxBackoffSeconds),
	)
	if err != nil {
		cancel()
		t.Fatalf("creating scheduler: %v", err)
	}
	broadcaster.StartRecordingToSink(ctx.Done())
	informerFactory.Start(ctx.Done())
	dynInformerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	dynInformerFactory.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		broadcaster.Shutdown()
		informerFactory.Shutdown()
		dynInformerFactory.Shutdown()
	})
	return sched
}

// WaitForBound waits until the pod is bound and returns its node.
func (cp *ControlPlane) WaitForBound(t testing.TB, ns, name string, timeout time.Duration) string {
	t.Helper()
	var node, last string
	err := wait.PollUntilContextTimeout(cp.Ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pod, err := cp.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		node = pod.Spec.NodeName
		last = scheduledMessage(pod)
		return node != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not bound within %v (last scheduling message: %q)", ns, name, timeout, last)
	}
	return node
}

// WaitForUnschedulable waits until the scheduler marks the pod
// PodScheduled=False/Unschedulable and returns the condition's message
// ("0/3 nodes are available: ...").
func (cp *ControlPlane) WaitForUnschedulable(t testing.TB, ns, name string, timeout time.Duration) string {
	t.Helper()
	var msg string
	err := wait.PollUntilContextTimeout(cp.Ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pod, err := cp.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if pod.Spec.NodeName != "" {
			return false, fmt.Errorf("pod was bound to %s", pod.Spec.NodeName)
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
				msg = c.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not marked unschedulable within %v: %v", ns, name, timeout, err)
	}
	return msg
}

// WaitForFailedSchedulingEvent waits for a FailedScheduling event about the
// pod and returns its note.
func (cp *ControlPlane) WaitForFailedSchedulingEvent(t testing.TB, ns, name string, timeout time.Duration) string {
	t.Helper()
	var note string
	err := wait.PollUntilContextTimeout(cp.Ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		evs, err := cp.Client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.Regarding.Kind == "Pod" && e.Regarding.Name == name {
				note = e.Note
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no FailedScheduling event for %s/%s within %v", ns, name, timeout)
	}
	return note
}

// ExpectNotBound checks that the pod stays unbound for d.
func (cp *ControlPlane) ExpectNotBound(t testing.TB, ns, name string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		pod, err := cp.Client.CoreV1().Pods(ns).Get(cp.Ctx, name, metav1.GetOptions{})
		if err == nil && pod.Spec.NodeName != "" {
			t.Fatalf("pod %s/%s was bound to %s, want it pending", ns, name, pod.Spec.NodeName)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scheduledMessage(pod *v1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c.Message
		}
	}
	return ""
}
