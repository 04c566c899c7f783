package install

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
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

// Verify implements Verifier.
func (c CRIVerifier) Verify(ctx context.Context, handlers []string) error {
	runtimes, err := c.Runtimes(ctx)
	if err != nil {
		return fmt.Errorf("verifying the handlers through the CRI: %w", err)
	}
	var missing []string
	for _, h := range handlers {
		if !strings.HasPrefix(runtimes[h], "io.containerd.kata") {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("containerd's CRI does not serve %s (it serves %v): check containerd's log; the drop-in may be overridden or containerd was not restarted", strings.Join(missing, ", "), sortedKeysOf(runtimes))
	}
	return nil
}

func sortedKeysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
