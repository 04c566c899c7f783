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
// A second change lets containerd 1.6 (Debian's) use it: containerd's v2
// shim library answers "start" with a JSON document
// ({"version":2,"address":...}), which containerd 1.7 and 2.x parse but
// 1.6 takes for the socket address ("dial unix {...}: invalid argument").
// This binary answers with the plain address instead, the form every
// containerd since 1.2 reads (1.7 and 2.x treat a non-JSON answer as a
// ttrpc address).
//
// Everything else (Stop, Info, the task service behind the ttrpc socket) is
// gVisor's own code. On a node where root has CAP_SYS_RESOURCE and
// containerd is 1.7 or later, use gVisor's shim unchanged;
// test/e2e/README.md explains why this one exists.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
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
	m := &manager{Manager: gvshim.NewShimManager(runtimeName)}
	if !isStart(os.Args[1:]) {
		shim.Run(context.Background(), m)
		return
	}
	// shim.Run writes the bootstrap parameters to os.Stdout: catch them
	// and answer with the address alone.
	stdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start: %v\n", err)
		os.Exit(1)
	}
	os.Stdout = w
	shim.Run(context.Background(), m)
	w.Close()
	os.Stdout = stdout
	data, err := io.ReadAll(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "start: reading the bootstrap parameters: %v\n", err)
		os.Exit(1)
	}
	var params shim.BootstrapParams
	if json.Unmarshal(data, &params) == nil && params.Address != "" {
		data = []byte(params.Address)
	}
	if _, err := stdout.Write(data); err != nil {
		os.Exit(1)
	}
}

// isStart reports whether containerd runs this binary to start a shim: the
// action is the first argument that is not a flag or a flag's value.
func isStart(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a == "start"
		}
		// Boolean flags take no value; the others take the next argument
		// unless given as -flag=value.
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || name == "debug" || name == "v" || name == "info" {
			continue
		}
		i++
	}
	return false
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
	// Without CAP_SYS_RESOURCE the kernel refuses a lower score: keep the
	// inherited one. Nothing is logged: containerd 1.6 reads the start
	// command's combined output as the socket address.
	if err := setOOMScore(cmd.Process.Pid, oomScoreMax); err != nil && !errors.Is(err, os.ErrPermission) {
		return shim.BootstrapParams{}, fmt.Errorf("failed to set OOM Score on shim: %w", err)
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
