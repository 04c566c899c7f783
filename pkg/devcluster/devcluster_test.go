package devcluster

import (
	"context"
	"flag"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/kubernetes/test/utils/ktesting"
)

// shippedConfig is the contract path of the shipped scheduler configuration.
var shippedConfig = filepath.Join("..", "..", "manifests", "scheduler", "scheduler-config.yaml")

// TestStartScheduleStop starts the control plane and the shipped scheduler,
// schedules a pod through the kubeconfig written to disk, then stops and
// checks that nothing is left: ports closed, data directory gone.
func TestStartScheduleStop(t *testing.T) {
	tCtx := ktesting.Init(t)
	dataDir := filepath.Join(t.TempDir(), "cluster")
	c, err := Start(tCtx, Options{DataDir: dataDir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	// The kubeconfig on disk is what kubectl gets: use it, not c.Config.
	restCfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath)
	if err != nil {
		t.Fatalf("loading kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := LoadSchedulerConfig(tCtx, shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := c.StartScheduler(tCtx, cfg)
	if err != nil {
		t.Fatalf("StartScheduler: %v", err)
	}

	node := st.MakeNode().Name("n1").Capacity(map[v1.ResourceName]string{v1.ResourceCPU: "4", v1.ResourceMemory: "8Gi", v1.ResourcePods: "110"}).Obj()
	node.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	created, err := client.CoreV1().Nodes().Create(tCtx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node: %v", err)
	}
	created.Status = node.Status
	if _, err := client.CoreV1().Nodes().UpdateStatus(tCtx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating node status: %v", err)
	}
	pod := st.MakePod().Namespace("default").Name("p1").SchedulerName("mtscn-scheduler").Container("pause").Obj()
	if _, err := client.CoreV1().Pods("default").Create(tCtx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	var nodeName string
	err = wait.PollUntilContextTimeout(tCtx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		nodeName = p.Spec.NodeName
		return nodeName != "", nil
	})
	if err != nil {
		t.Fatalf("pod was not bound: %v", err)
	}
	if nodeName != "n1" {
		t.Errorf("pod bound to %q, want n1", nodeName)
	}

	sched.Stop()
	apiURL, etcdURL := c.APIServerURL, c.EtcdURL
	if err := c.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	for _, u := range []string{apiURL, etcdURL} {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", parsed.Host, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", u)
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data directory %s still exists after Stop (stat: %v)", dataDir, err)
	}
}

// BenchmarkStartStop measures how long the embedded control plane takes to
// come up (etcd, kube-apiserver ready, kubeconfig written) and go away.
func BenchmarkStartStop(b *testing.B) {
	// kube-apiserver logs through the global klog; keep the numbers readable.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	b.Cleanup(func() { _ = fs.Set("logtostderr", "true"); _ = fs.Set("stderrthreshold", "ERROR") })
	for i := 0; i < b.N; i++ {
		c, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStartRefusesUsedDataDir(t *testing.T) {
	tCtx := ktesting.Init(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "leftover"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(tCtx, Options{DataDir: dir})
	want := "data directory " + dir + " is not empty: give a new or empty directory"
	if err == nil || err.Error() != want {
		t.Errorf("Start error = %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "leftover")); err != nil {
		t.Errorf("Start touched a directory it refused: %v", err)
	}
}

// TestRestartAPIServer restarts kube-apiserver under a client that holds
// the kubeconfig on disk: the same address and certificates answer again
// and what was stored before the restart is still there.
func TestRestartAPIServer(t *testing.T) {
	tCtx := ktesting.Init(t)
	c, err := Start(tCtx, Options{DataDir: filepath.Join(t.TempDir(), "cluster")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	restCfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Create(tCtx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	url := c.APIServerURL
	if err := c.RestartAPIServer(tCtx); err != nil {
		t.Fatalf("RestartAPIServer: %v", err)
	}
	if c.APIServerURL != url {
		t.Errorf("address changed from %s to %s", url, c.APIServerURL)
	}
	if _, err := client.CoreV1().Namespaces().Get(tCtx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("after the restart, through the old kubeconfig: %v", err)
	}
}

// TestIssueKubeconfig: a kubeconfig issued for a node authenticates as that
// node (what make e2e's kubelets use), and the API server has a kubelet
// client certificate signed by the same CA.
func TestIssueKubeconfig(t *testing.T) {
	tCtx := ktesting.Init(t)
	c, err := Start(tCtx, Options{DataDir: filepath.Join(t.TempDir(), "cluster")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	path := filepath.Join(t.TempDir(), "node.kubeconfig")
	if err := c.IssueKubeconfig(path, "system:node:n1", []string{"system:nodes"}); err != nil {
		t.Fatalf("IssueKubeconfig: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(tCtx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview as the node: %v", err)
	}
	if u := review.Status.UserInfo; u.Username != "system:node:n1" || !slices.Contains(u.Groups, "system:nodes") {
		t.Errorf("issued kubeconfig authenticates as %q in %v, want system:node:n1 in system:nodes", u.Username, u.Groups)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "apiserver-kubelet-client.crt")); err != nil {
		t.Errorf("kubelet client certificate: %v", err)
	}
	if c.CAFile() != filepath.Join(c.DataDir, "ca.crt") {
		t.Errorf("CAFile() = %s", c.CAFile())
	}
}
