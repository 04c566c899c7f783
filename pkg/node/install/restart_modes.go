package install

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// SignalRestarter restarts containerd without systemd: it sends SIGTERM to
// the containerd process and waits for its supervisor (runit, s6,
// supervisord, a shell loop, an init script's respawn) to start a new one.
// The PID comes from PIDFile or, without one, from the process that owns
// containerd's listening socket. In a container it needs the host's PID
// namespace (hostPID: true) and CAP_KILL. The installer's verification then
// waits for the CRI to answer.
type SignalRestarter struct {
	// HostRoot is where the host's / is mounted; its proc is read.
	HostRoot string
	// PIDFile is the host path of a file holding containerd's PID ("" to
	// find it through Socket).
	PIDFile string
	// Socket is containerd's socket as a host path (as containerd names it).
	Socket string
	// Signal defaults to SIGTERM.
	Signal syscall.Signal
	// Timeout bounds the wait for the old process to exit and a new one
	// to own the socket (default 2m).
	Timeout time.Duration
}

// Restart implements Restarter.
func (s SignalRestarter) Restart(ctx context.Context, _ string) error {
	logger := klog.FromContext(ctx)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	sig := s.Signal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	pid, err := s.pid()
	if err != nil {
		return err
	}
	logger.Info("signalling containerd to restart", "pid", pid, "signal", sig.String())
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signalling containerd (pid %d): %w; in a container, signal mode needs hostPID: true and CAP_KILL", pid, err)
	}
	deadline := time.Now().Add(timeout)
	procDir := hostpath.Root(s.HostRoot).Path(filepath.Join("/proc", strconv.Itoa(pid)))
	for alive(procDir) {
		if err := sleepUntil(ctx, deadline); err != nil {
			return fmt.Errorf("containerd (pid %d) did not exit within %v after %v: %w", pid, timeout, sig, err)
		}
	}
	for {
		next, err := s.pid()
		if err == nil && next != pid {
			logger.Info("containerd is back", "pid", next)
			return nil
		}
		if err := sleepUntil(ctx, deadline); err != nil {
			return fmt.Errorf("no new containerd after pid %d exited, within %v (does a supervisor restart it? signal mode needs one): %w", pid, timeout, err)
		}
	}
}

func alive(procDir string) bool {
	b, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return false
	}
	// A zombie has exited: its parent has not reaped it yet.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

func sleepUntil(ctx context.Context, deadline time.Time) error {
	if time.Now().After(deadline) {
		return context.DeadlineExceeded
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// pid reads containerd's PID from the PID file or finds the owner of its
// socket.
func (s SignalRestarter) pid() (int, error) {
	root := hostpath.Root(s.HostRoot)
	if s.PIDFile != "" {
		b, err := hostpath.ReadFile(root.Path(s.PIDFile), 64)
		if err != nil {
			return 0, fmt.Errorf("reading containerd's PID file (--containerd-pidfile): %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			return 0, fmt.Errorf("containerd's PID file %s holds %q, not a PID", s.PIDFile, strings.TrimSpace(string(b)))
		}
		return pid, nil
	}
	return socketOwner(root, s.Socket)
}

// socketOwner finds the process holding the listening unix socket path:
// its inode from the host network namespace's /proc/1/net/unix, then the
// process with a file descriptor on that inode.
func socketOwner(root hostpath.Root, socket string) (int, error) {
	f, err := os.Open(root.Path("/proc/1/net/unix"))
	if err != nil {
		return 0, fmt.Errorf("finding containerd's PID through its socket %s: %w (give --containerd-pidfile, or run with the host's PID namespace)", socket, err)
	}
	defer f.Close()
	var inode string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(sc.Text())
		if len(fields) >= 8 && fields[7] == socket && fields[3] == "00010000" { // __SO_ACCEPTCON: listening
			inode = fields[6]
			break
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("no process listens on %s (is containerd running? is --cri-socket its socket as the host names it?)", socket)
	}
	want := "socket:[" + inode + "]"
	procs, err := os.ReadDir(root.Path("/proc"))
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := root.Path(filepath.Join("/proc", p.Name(), "fd"))
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && l == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds containerd's socket %s (inode %s) in the visible PID namespace; run with hostPID: true or give --containerd-pidfile", socket, inode)
}

// CommandRestarter runs an admin-given command that restarts containerd
// (`--restart-mode=command --restart-command=...`), e.g. `rc-service
// containerd restart`, `sv restart containerd` or a script. The command
// runs as given (no shell), from this process: in a container, use a
// command that reaches the host (e.g. `chroot /host ...`, or nsenter with
// hostPID).
type CommandRestarter struct {
	Command []string
	// Timeout bounds the command (default 2m).
	Timeout time.Duration
}

// Restart implements Restarter.
func (c CommandRestarter) Restart(ctx context.Context, _ string) error {
	if len(c.Command) == 0 {
		return errors.New("--restart-mode=command needs --restart-command")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("restart command %q failed: %w: %s", strings.Join(c.Command, " "), err, strings.TrimSpace(string(out)))
	}
	klog.FromContext(ctx).Info("ran the restart command", "command", c.Command, "output", strings.TrimSpace(string(out)))
	return nil
}
