package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// Options configure Start.
type Options struct {
	// DataDir holds everything the cluster writes. Empty: a fresh directory
	// under os.TempDir(). Stop removes it unless KeepDataDir is set.
	DataDir string
	// KeepDataDir leaves DataDir in place after Stop (for inspection).
	KeepDataDir bool
	// LogOutput receives etcd's warnings and errors; nil discards them.
	// kube-apiserver logs through klog, which the caller configures.
	LogOutput io.Writer
}

// Cluster is a running embedded control plane.
type Cluster struct {
	// DataDir holds etcd's data, the certificates and the kubeconfig.
	DataDir string
	// KubeconfigPath is a kubeconfig for the cluster admin (system:masters),
	// usable by kubectl while the cluster runs.
	KubeconfigPath string
	// Config is the admin's client configuration (the same credentials as
	// the kubeconfig).
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface
	// APIServerURL is https://127.0.0.1:<port>.
	APIServerURL string
	// EtcdURL is etcd's client URL.
	EtcdURL string

	keepDataDir bool
	pki         *pki
	serial      int64
	etcd        *embed.Etcd
	cancel      context.CancelFunc
	apiDone     chan error
	stopped     bool
}

// Start starts etcd and kube-apiserver and returns once the API server is
// healthy and the default namespace exists. The caller must call Stop; ctx
// only bounds the start.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	logger := klog.FromContext(ctx)
	c := &Cluster{DataDir: opts.DataDir, keepDataDir: opts.KeepDataDir}
	if c.DataDir == "" {
		if c.DataDir, err = os.MkdirTemp("", "mtscn-devcluster-"); err != nil {
			return nil, fmt.Errorf("creating data directory: %w", err)
		}
	} else {
		// A previous run's etcd data would come back to life: refuse it.
		if entries, err := os.ReadDir(c.DataDir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("data directory %s is not empty: give a new or empty directory", c.DataDir)
		}
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating data directory: %w", err)
		}
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()

	if c.pki, err = newPKI(c.DataDir); err != nil {
		return nil, err
	}
	if err := c.startEtcd(opts.LogOutput); err != nil {
		return nil, err
	}
	logger.V(2).Info("etcd started", "url", c.EtcdURL)
	if err := c.startAPIServer(ctx, 0); err != nil {
		return nil, err
	}
	logger.V(2).Info("kube-apiserver started", "url", c.APIServerURL, "kubeconfig", c.KubeconfigPath)
	return c, nil
}

// RestartAPIServer stops kube-apiserver, waits for it to exit and starts
// it again on the same address with the same certificates and etcd, as a
// restart of the process (or of its static pod) would: clients keep their
// kubeconfig and see connection errors in between. It returns once the new
// server is ready.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if c.stopped || c.cancel == nil {
		return errors.New("restarting kube-apiserver: the cluster is not running")
	}
	c.cancel()
	if c.apiDone != nil {
		if err := <-c.apiDone; err != nil {
			return fmt.Errorf("stopping kube-apiserver: %w", err)
		}
	}
	c.cancel, c.apiDone = nil, nil
	u, err := url.Parse(c.APIServerURL)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", c.APIServerURL, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("parsing the port of %s: %w", c.APIServerURL, err)
	}
	return c.startAPIServer(ctx, port)
}

// Stop shuts down kube-apiserver and etcd, waits for them to exit and
// removes the data directory unless it is kept. It is safe to call twice.
func (c *Cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.cancel != nil {
		c.cancel()
		if c.apiDone != nil {
			if err := <-c.apiDone; err != nil {
				errs = append(errs, fmt.Errorf("stopping kube-apiserver: %w", err))
			}
		}
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	if !c.keepDataDir && c.DataDir != "" {
		if err := os.RemoveAll(c.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("removing data directory: %w", err))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// startEtcd starts an embedded single-member etcd on two free loopback
// ports. Picking a free port and binding it are not atomic, so a lost race
// is retried.
func (c *Cluster) startEtcd(logOutput io.Writer) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		cfg, err := c.etcdConfig(logOutput)
		if err != nil {
			return err
		}
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			e.Close()
			return fmt.Errorf("starting etcd: %w", err)
		case <-time.After(30 * time.Second):
			e.Close()
			return errors.New("starting etcd: not ready after 30s")
		}
		c.etcd = e
		c.EtcdURL = cfg.ListenClientUrls[0].String()
		return nil
	}
	return fmt.Errorf("starting etcd: %w", lastErr)
}

func (c *Cluster) etcdConfig(logOutput io.Writer) (*embed.Config, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "devcluster"
	cfg.Dir = filepath.Join(c.DataDir, "etcd")
	// A throwaway single-member store: losing it on a crash is fine.
	cfg.UnsafeNoFsync = true
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	lg := zap.NewNop()
	if logOutput != nil {
		lg = zap.New(zapcore.NewCore(
			zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()),
			zapcore.AddSync(logOutput), zapcore.WarnLevel)).Named("etcd")
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	return cfg, nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startAPIServer follows kube-apiserver's own steps (options → Complete →
// NewConfig → CreateServerChain → PrepareRun → Run), as
// k8s.io/kubernetes/cmd/kube-apiserver/app/testing does, on a loopback
// listener with the certificates of pki.
func (c *Cluster) startAPIServer(ctx context.Context, port int) error {
	pki := c.pki
	s := options.NewServerRunOptions()

	// A registry of our own so the server's version is the Kubernetes
	// release compiled in (1.35), not whatever -ldflags stamped into
	// component-base/version for mtscn's binaries.
	featureGate := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	effectiveVersion := compatibility.DefaultKubeEffectiveVersionForTest()
	effectiveVersion.SetEmulationVersion(featureGate.EmulationVersion())
	effectiveVersion.SetMinCompatibilityVersion(featureGate.MinCompatibilityVersion())
	registry := basecompatibility.NewComponentGlobalsRegistry()
	if err := registry.Register(basecompatibility.DefaultKubeComponent, effectiveVersion, featureGate); err != nil {
		return fmt.Errorf("registering kube component: %w", err)
	}
	if err := registry.Set(); err != nil {
		return fmt.Errorf("applying kube component version: %w", err)
	}
	s.GenericServerRunOptions.ComponentGlobalsRegistry = registry

	// Port 0 picks a free port; a restart binds the previous one again.
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listening for kube-apiserver: %w", err)
	}
	port = listener.Addr().(*net.TCPAddr).Port
	c.APIServerURL = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.SecureServing.Listener = listener
	s.SecureServing.BindPort = port
	s.SecureServing.BindAddress = net.ParseIP("127.0.0.1")
	s.SecureServing.ExternalAddress = net.ParseIP("127.0.0.1")
	s.SecureServing.ServerCert.CertDirectory = c.DataDir
	s.SecureServing.ServerCert.CertKey.CertFile = pki.serverCert
	s.SecureServing.ServerCert.CertKey.KeyFile = pki.serverKey

	s.Etcd.StorageConfig.Transport.ServerList = []string{c.EtcdURL}
	s.ServiceClusterIPRanges = "10.0.0.0/24"
	s.Authentication.ClientCert.ClientCA = pki.caFile
	s.Authentication.ServiceAccounts.Issuers = []string{"https://kubernetes.default.svc"}
	s.Authentication.ServiceAccounts.KeyFiles = []string{pki.serviceAccountKey}
	s.Authentication.APIAudiences = []string{"https://kubernetes.default.svc"}
	s.ServiceAccountSigningKeyFile = pki.serviceAccountKey
	s.Authorization.Modes = []string{"Node", "RBAC"}
	// Real kubelets (make e2e) serve logs and exec to the API server when
	// they trust the CA for client certificates; they listen on their
	// node's InternalIP (their hostnames need not resolve).
	s.KubeletConfig.TLSClientConfig.CertFile = pki.kubeletClientCert
	s.KubeletConfig.TLSClientConfig.KeyFile = pki.kubeletClientKey
	s.KubeletConfig.PreferredAddressTypes = []string{"InternalIP", "Hostname", "InternalDNS", "ExternalDNS", "ExternalIP"}
	// Without kube-controller-manager nothing would create the default
	// ServiceAccounts the ServiceAccount admission plugin waits for, and
	// nothing would lift the not-ready taint TaintNodesByCondition puts on
	// new nodes; both would keep every pod from being scheduled.
	s.Admission.GenericAdmission.DisablePlugins = []string{"ServiceAccount", "TaintNodesByCondition"}
	// --shutdown-send-retry-after: on stop, drain the requests in flight
	// (answering new ones with Retry-After) and close the remaining
	// connections after 2s, instead of waiting up to --request-timeout
	// (60s) for clients that hold watches open.
	s.GenericServerRunOptions.ShutdownSendRetryAfter = true

	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("completing kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("validating kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	config, err := app.NewConfig(completed)
	if err != nil {
		return fmt.Errorf("configuring kube-apiserver: %w", err)
	}
	completedConfig, err := config.Complete()
	if err != nil {
		return fmt.Errorf("completing kube-apiserver configuration: %w", err)
	}
	server, err := app.CreateServerChain(completedConfig)
	if err != nil {
		return fmt.Errorf("creating kube-apiserver: %w", err)
	}

	// The server runs until Stop, not until ctx (which bounds only Start).
	runCtx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.FromContext(ctx)))
	c.cancel = cancel
	c.apiDone = make(chan error, 1)
	go func() {
		defer close(c.apiDone)
		prepared, err := server.PrepareRun()
		if err != nil {
			c.apiDone <- err
			return
		}
		c.apiDone <- prepared.Run(runCtx)
	}()

	c.Config = &rest.Config{
		Host: c.APIServerURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   pki.caPEM,
			CertData: pki.adminCertPEM,
			KeyData:  pki.adminKeyPEM,
		},
		QPS:   1000,
		Burst: 2000,
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	c.KubeconfigPath = filepath.Join(c.DataDir, "kubeconfig")
	if err := writeKubeconfig(c.KubeconfigPath, c.APIServerURL, pki); err != nil {
		return err
	}
	return nil
}

// waitReady waits for /readyz and the default namespace, failing early
// when the server exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-c.apiDone:
			c.apiDone = nil
			if err == nil {
				err = errors.New("exited")
			}
			return false, fmt.Errorf("kube-apiserver: %w", err)
		default:
		}
		status := 0
		c.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status)
		if status != http.StatusOK {
			return false, nil
		}
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for kube-apiserver to become ready: %w", err)
	}
	return nil
}

// IssueKubeconfig writes a kubeconfig for this cluster at path whose client
// certificate, signed by the cluster's CA, authenticates user in groups:
// e.g. a real kubelet as "system:node:<name>" in "system:nodes", which the
// Node authorizer and NodeRestriction treat as that node. CAFile is the
// CA's certificate, for kubelets that authenticate the API server's
// client certificate.
func (c *Cluster) IssueKubeconfig(path, user string, groups []string) error {
	c.serial++
	certPEM, keyPEM, err := c.pki.issueClient(user, groups, 100+c.serial)
	if err != nil {
		return fmt.Errorf("issuing client certificate for %s: %w", user, err)
	}
	return writeKubeconfigFor(path, c.APIServerURL, c.pki.caPEM, user, certPEM, keyPEM)
}

// CAFile is the path of the cluster CA's certificate in DataDir.
func (c *Cluster) CAFile() string { return c.pki.caFile }

func writeKubeconfig(path, server string, pki *pki) error {
	return writeKubeconfigFor(path, server, pki.caPEM, "mtscn-admin", pki.adminCertPEM, pki.adminKeyPEM)
}

func writeKubeconfigFor(path, server string, caPEM []byte, user string, certPEM, keyPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["mtscn-devcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["mtscn-devcluster"] = &clientcmdapi.Context{Cluster: "mtscn-devcluster", AuthInfo: user}
	cfg.CurrentContext = "mtscn-devcluster"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}
