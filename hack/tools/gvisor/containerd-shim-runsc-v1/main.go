// Command containerd-shim-runsc-v1 is gVisor's containerd shim
// (gvisor.dev/gvisor/shim, runtime_type "io.containerd.runsc.v1") with one
// change for hosts where root lacks CAP_SYS_RESOURCE, such as the
// development VM `make e2e` runs on: gVisor's shim manager lowers the
// serving shim's oom_score_adj to -999 in Start and fails the sandbox when
// the kernel refuses ("failed to set OOM Score on shim ... permission
// denied"). This manager starts the same shim process the same way and
// keeps the lower score best-effort: when the kernel refuses, the shim keeps
// the score it inherited from containerd and a warning is logged.
//
// Everything else (Stop, Info, the task service behind the ttrpc socket) is
// gVisor's own code. On a node where root has CAP_SYS_RESOURCE, use gVisor's
// shim unchanged; test/e2e/README.md explains why this one exists.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
	gvshim "gvisor.dev/gvisor/pkg/shim/v1"
	// Registers gVisor's task service, which the started shim serves.
	_ "gvisor.dev/gvisor/pkg/shim/v1/plugin"
	"gvisor.dev/gvisor/pkg/shim/v1/runsc"
)

const (
	runtimeName = "io.containerd.runsc.v1"
	// The score gVisor's manager gives the serving shim.
	oomScoreMax = -999
	// Set by containerd's CRI plugin on every container of a pod sandbox;
	// gVisor groups a pod's containers into one shim by it.
	kubernetesGroupAnnotation = "io.kubernetes.cri.sandbox-id"
	crioSandboxIDAnnotation   = "io.kubernetes.cri-o.SandboxID"
)

func main() {
	shim.Run(context.Background(), &manager{Manager: gvshim.NewShimManager(runtimeName)})
}

// manager is gVisor's shim manager with its own Start.
type manager struct {
	shim.Manager
}

// Start follows gvisor.dev/gvisor/pkg/shim/v1 manager.Start: it creates the
// shim socket (reusing the pod's shim when grouping is on), re-executes this
// binary as the serving shim with the socket, and records its pid and
// address. Only the OOM score step differs.
func (m *manager) Start(ctx context.Context, id string, opts shim.StartOpts) (_ shim.BootstrapParams, retErr error) {
	grouping := id
	if o := runsc.GetRuntimeOptions(); o != nil && o.Grouping {
		g, err := groupingKey(id)
		if err != nil {
			return shim.BootstrapParams{}, err
		}
		grouping = g
	}
	address, err := shim.SocketAddress(ctx, opts.Address, grouping, opts.Debug)
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	params := shim.BootstrapParams{Version: 2, Address: address, Protocol: "ttrpc"}
	socket, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return shim.BootstrapParams{}, fmt.Errorf("create new shim socket: %w", err)
		}
		if shim.CanConnect(address) {
			if err := os.WriteFile("address", []byte(address), 0o644); err != nil {
				return shim.BootstrapParams{}, fmt.Errorf("write existing socket for shim: %w", err)
			}
			return params, nil
		}
		if err := shim.RemoveSocket(address); err != nil {
			return shim.BootstrapParams{}, fmt.Errorf("remove pre-existing socket: %w", err)
		}
		if socket, err = shim.NewSocket(address); err != nil {
			return shim.BootstrapParams{}, fmt.Errorf("try create new shim socket 2x: %w", err)
		}
	}
	defer func() {
		if retErr != nil {
			socket.Close()
			_ = shim.RemoveSocket(address)
		}
	}()
	if err := os.WriteFile("address", []byte(address), 0o644); err != nil {
		return shim.BootstrapParams{}, err
	}
	cmd, err := newCommand(ctx, id, opts.Address, opts.Debug)
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	f, err := socket.File()
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	if err := cmd.Start(); err != nil {
		f.Close()
		return shim.BootstrapParams{}, err
	}
	defer func() {
		if retErr != nil {
			_ = cmd.Process.Kill()
		}
	}()
	go func() { _ = cmd.Wait() }()
	if err := shim.WritePidFile("shim.pid", cmd.Process.Pid); err != nil {
		return shim.BootstrapParams{}, err
	}
	if err := setOOMScore(cmd.Process.Pid, oomScoreMax); err != nil {
		if !errors.Is(err, os.ErrPermission) {
			return shim.BootstrapParams{}, fmt.Errorf("failed to set OOM Score on shim: %w", err)
		}
		log.G(ctx).WithError(err).Warn("cannot lower the shim's OOM score without CAP_SYS_RESOURCE; keeping the inherited score")
	}
	return params, nil
}

func groupingKey(id string) (string, error) {
	// containerd writes the bundle's config.json into the shim's working
	// directory before starting it.
	data, err := os.ReadFile("config.json")
	if err != nil {
		return "", fmt.Errorf("failed to read config.json when starting shim: %w", err)
	}
	var spec struct {
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", fmt.Errorf("config.json: %w", err)
	}
	for _, k := range []string{kubernetesGroupAnnotation, crioSandboxIDAnnotation} {
		if g, ok := spec.Annotations[k]; ok {
			return g, nil
		}
	}
	return id, nil
}

func newCommand(ctx context.Context, id, containerdAddress string, debug bool) (*exec.Cmd, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-address", containerdAddress, "-id", id}
	if debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	return cmd, nil
}

func setOOMScore(pid, score int) error {
	path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(strconv.Itoa(score)); err != nil {
		return err
	}
	return nil
}
