package devcluster

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"k8s.io/kubernetes/pkg/scheduler/profile"

	"github.com/mtscn/mtscn/pkg/schedulercmd"
)

// Scheduler is mtscn-scheduler running in this process against a Cluster.
type Scheduler struct {
	// Config is the configuration it runs with, after defaulting.
	Config *schedconfig.KubeSchedulerConfiguration

	sched       *scheduler.Scheduler
	cancel      context.CancelFunc
	started     bool
	done        chan struct{}
	broadcaster events.EventBroadcaster
	informers   informers.SharedInformerFactory
	dynamic     dynamicinformer.DynamicSharedInformerFactory
}

// LoadSchedulerConfig reads a KubeSchedulerConfiguration file (such as the
// shipped manifests/scheduler/scheduler-config.yaml) with kube-scheduler's
// own loader: strict decoding, defaulting, mtscn's args types registered.
func LoadSchedulerConfig(ctx context.Context, path string) (*schedconfig.KubeSchedulerConfiguration, error) {
	cfg, err := options.LoadConfigFromFile(klog.FromContext(ctx), path)
	if err != nil {
		return nil, fmt.Errorf("loading scheduler configuration %s: %w", path, err)
	}
	return cfg, nil
}

// StartScheduler builds the scheduler as kube-scheduler's app.Setup does
// (scheduler.New with the configuration's profiles and
// schedulercmd.Registry()) and runs it until Stop. Leader election,
// clientConnection and serving settings of cfg are ignored: it is the only
// scheduler of a private cluster and talks to it as the admin. It returns
// once the informers have synced.
func (c *Cluster) StartScheduler(ctx context.Context, cfg *schedconfig.KubeSchedulerConfiguration) (*Scheduler, error) {
	logger := klog.FromContext(ctx)
	runCtx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	s := &Scheduler{Config: cfg, cancel: cancel, done: make(chan struct{})}

	dynClient, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating dynamic client: %w", err)
	}
	s.informers = scheduler.NewInformerFactory(c.Client, 0)
	s.dynamic = dynamicinformer.NewDynamicSharedInformerFactory(dynClient, 0)
	s.broadcaster = events.NewBroadcaster(&events.EventSinkImpl{Interface: c.Client.EventsV1()})

	sched, err := scheduler.New(runCtx, c.Client, s.informers, s.dynamic,
		profile.NewRecorderFactory(s.broadcaster),
		scheduler.WithComponentConfigVersion(cfg.TypeMeta.APIVersion),
		scheduler.WithKubeConfig(c.Config),
		scheduler.WithProfiles(cfg.Profiles...),
		scheduler.WithPercentageOfNodesToScore(cfg.PercentageOfNodesToScore),
		scheduler.WithFrameworkOutOfTreeRegistry(schedulercmd.Registry()),
		scheduler.WithPodMaxBackoffSeconds(cfg.PodMaxBackoffSeconds),
		scheduler.WithPodInitialBackoffSeconds(cfg.PodInitialBackoffSeconds),
		scheduler.WithExtenders(cfg.Extenders...),
		scheduler.WithParallelism(cfg.Parallelism),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating scheduler: %w", err)
	}
	s.broadcaster.StartRecordingToSink(runCtx.Done())
	s.informers.Start(runCtx.Done())
	s.dynamic.Start(runCtx.Done())
	s.informers.WaitForCacheSync(runCtx.Done())
	s.dynamic.WaitForCacheSync(runCtx.Done())
	if err := sched.WaitForHandlersSync(runCtx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("waiting for scheduler event handlers: %w", err)
	}
	s.sched = sched
	s.started = true
	go func() {
		defer close(s.done)
		sched.Run(runCtx)
	}()
	logger.V(2).Info("scheduler started", "profiles", len(cfg.Profiles))
	return s, nil
}

// Stop stops the scheduler and waits for it to return.
func (s *Scheduler) Stop() {
	s.cancel()
	if s.started {
		<-s.done
	}
	s.broadcaster.Shutdown()
	s.informers.Shutdown()
	s.dynamic.Shutdown()
}

// Idle reports whether the scheduler has no pod to try now or to retry
// after a backoff: every pending pod has been found unschedulable and no
// event since then has made it worth another attempt.
func (s *Scheduler) Idle() bool {
	q := s.sched.SchedulingQueue
	if len(q.InFlightPods()) > 0 || len(q.PodsInActiveQ()) > 0 {
		return false
	}
	if b, ok := q.(interface{ PodsInBackoffQ() []*v1.Pod }); ok && len(b.PodsInBackoffQ()) > 0 {
		return false
	}
	return true
}

// DefaultSchedulerName is the upstream profile's name.
const DefaultSchedulerName = "default-scheduler"

// DefaultProfile returns kube-scheduler's default profile (the in-tree
// plugins with their default args, schedulerName default-scheduler), for
// comparing mtscn with what a cluster runs without it.
func DefaultProfile() (schedconfig.KubeSchedulerProfile, error) {
	data := []byte("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n")
	obj, _, err := schedscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return schedconfig.KubeSchedulerProfile{}, fmt.Errorf("decoding the default scheduler configuration: %w", err)
	}
	cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
	if !ok || len(cfg.Profiles) != 1 {
		return schedconfig.KubeSchedulerProfile{}, fmt.Errorf("decoding the default scheduler configuration: got %T", obj)
	}
	return cfg.Profiles[0], nil
}
