package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultCRISocket is containerd's socket on the host.
const DefaultCRISocket = "/run/containerd/containerd.sock"

// criTimeout bounds one CRI status call: discovery never waits for a
// containerd that does not answer.
const criTimeout = 5 * time.Second

// errNoCRISocket means the CRI socket is not there to ask.
var errNoCRISocket = errors.New("no CRI socket")

// criHandlers asks containerd's CRI plugin, through the socket at path,
// which runtime handlers it serves: the runtimes of its effective
// configuration (Status with verbose=true, as containerd 1.6 reports them)
// and the runtime_handlers of CRI v1 (containerd 2.x).
func criHandlers(ctx context.Context, path string) (map[string]bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoCRISocket
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("%s is not a socket", path)
	}
	ctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to the CRI at %s: %w", path, err)
	}
	defer conn.Close()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		return nil, fmt.Errorf("CRI status at %s: %w", path, err)
	}
	out := map[string]bool{}
	var cfg struct {
		Containerd struct {
			Runtimes map[string]json.RawMessage `json:"runtimes"`
		} `json:"containerd"`
	}
	if c := resp.GetInfo()["config"]; c != "" {
		if err := json.Unmarshal([]byte(c), &cfg); err != nil {
			return nil, fmt.Errorf("reading the CRI plugin's config from the status at %s: %w", path, err)
		}
	}
	for h := range cfg.Containerd.Runtimes {
		out[h] = true
	}
	for _, h := range resp.GetRuntimeHandlers() {
		if h.GetName() != "" {
			out[h.GetName()] = true
		}
	}
	return out, nil
}
