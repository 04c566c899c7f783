package install

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// DefaultCRIEndpoint is containerd's socket on the host.
const DefaultCRIEndpoint = "/run/containerd/containerd.sock"

// CRIVerifier asks the running containerd, through its CRI socket, which
// runtimes its CRI plugin loaded (RuntimeService/Status with verbose=true
// returns the plugin's effective config). It waits for containerd to come
// back after a restart. This is the check kata-deploy makes.
type CRIVerifier struct {
	// Socket is the path of containerd's socket as this process sees it
	// (prefix it with the host root in a container).
	Socket string
	// Timeout bounds the wait for containerd to answer (default 2m).
	Timeout time.Duration
}

// criConfig is the part of the CRI plugin's verbose status we read.
type criConfig struct {
	Containerd struct {
		Runtimes map[string]struct {
			RuntimeType string `json:"runtimeType"`
			RuntimePath string `json:"runtimePath"`
		} `json:"runtimes"`
	} `json:"containerd"`
}

// Runtimes returns the handlers containerd's CRI plugin serves, with their
// runtime_type, or an error if containerd does not answer in time.
func (c CRIVerifier) Runtimes(ctx context.Context) (map[string]string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", c.Socket, err)
	}
	defer conn.Close()
	client := runtimeapi.NewRuntimeServiceClient(conn)
	logger := klog.FromContext(ctx)
	var lastErr error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := client.Status(callCtx, &runtimeapi.StatusRequest{Verbose: true})
		callCancel()
		if err == nil {
			var cfg criConfig
			if err := json.Unmarshal([]byte(resp.GetInfo()["config"]), &cfg); err != nil {
				return nil, fmt.Errorf("reading the CRI plugin's config from containerd's status: %w", err)
			}
			out := map[string]string{}
			for h, rt := range cfg.Containerd.Runtimes {
				out[h] = rt.RuntimeType
			}
			for _, h := range resp.GetRuntimeHandlers() {
				if _, ok := out[h.GetName()]; !ok && h.GetName() != "" {
					out[h.GetName()] = ""
				}
			}
			return out, nil
		}
		lastErr = err
		logger.V(2).Info("containerd's CRI is not answering yet", "socket", c.Socket, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("containerd's CRI at %s did not answer within %v (is containerd running with the CRI plugin?): %w", c.Socket, timeout, lastErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Version returns containerd's version as the CRI reports it ("v1.6.20",
// "2.2.9").
func (c CRIVerifier) Version(ctx context.Context) (string, error) {
	conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", fmt.Errorf("connecting to containerd at %s: %w", c.Socket, err)
	}
	defer conn.Close()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "", fmt.Errorf("asking containerd's CRI at %s for its version: %w", c.Socket, err)
	}
	return resp.GetRuntimeVersion(), nil
}

// SandboxLister finds running pod sandboxes.
type SandboxLister interface {
	// RunningSandboxes returns the pods (namespace/name) whose sandbox is
	// ready and runs with one of the handlers.
	RunningSandboxes(ctx context.Context, handlers []string) ([]string, error)
}

// RunningSandboxes implements SandboxLister through the CRI.
func (c CRIVerifier) RunningSandboxes(ctx context.Context, handlers []string) ([]string, error) {
	conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", c.Socket, err)
	}
	defer conn.Close()
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).ListPodSandbox(callCtx, &runtimeapi.ListPodSandboxRequest{
		Filter: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}},
	})
	if err != nil {
		return nil, fmt.Errorf("listing pod sandboxes through containerd's CRI at %s: %w", c.Socket, err)
	}
	var out []string
	for _, s := range resp.GetItems() {
		if slices.Contains(handlers, s.GetRuntimeHandler()) {
			out = append(out, s.GetMetadata().GetNamespace()+"/"+s.GetMetadata().GetName()+" ("+s.GetRuntimeHandler()+")")
		}
	}
	sort.Strings(out)
	return out, nil
}

func sortedKeysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
