package failover

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// acquired is what client-go's leader election logs when a replica becomes
// the leader (`"Successfully acquired lease" lock="mtscn-system/mtscn-scheduler"`).
const acquired = "Successfully acquired lease"

// writeConfig writes the shipped scheduler configuration with its
// clientConnection pointed at kubeconfig; everything else (profiles, args,
// leader election) is as shipped.
func writeConfig(t *testing.T, kubeconfig string) string {
	t.Helper()
	return harness.WriteSchedulerConfig(t, kubeconfig, func(cfg map[string]any) {
		if le, _ := cfg["leaderElection"].(map[string]any); le["leaderElect"] != true {
			t.Fatalf("the shipped configuration does not elect a leader: %v", le)
		}
	})
}

// replica is one mtscn-scheduler process slot. Like a Deployment's pod, it
// is started again when its process exits (a killed leader, or a leader
// that lost its lease while the API server was down), until stopped.
type replica struct {
	name, config, logDir string

	mu       sync.Mutex
	cmd      *exec.Cmd
	run      int       // how many processes this slot has started
	leaderAt time.Time // when the current process acquired the lease
	exits    []string  // how earlier processes ended
	stopped  bool
	done     chan struct{}
}

func startReplica(t *testing.T, name, config string) *replica {
	r := &replica{name: name, config: config, logDir: t.TempDir(), done: make(chan struct{})}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	return r
}

func (r *replica) logPath(run int) string {
	return filepath.Join(r.logDir, fmt.Sprintf("%s-%d.log", r.name, run))
}

// start runs a new process and a goroutine that restarts it when it exits.
func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run++
	run := r.run
	logFile, err := os.Create(r.logPath(run))
	if err != nil {
		return err
	}
	cmd := exec.Command(schedulerBin, "--config="+r.config, "--secure-port=0", "--v=2")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", r.name, err)
	}
	r.cmd, r.leaderAt = cmd, time.Time{}
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if strings.Contains(line, acquired) {
				r.mu.Lock()
				if r.run == run {
					r.leaderAt = time.Now()
				}
				r.mu.Unlock()
			}
		}
		err := cmd.Wait()
		r.mu.Lock()
		r.exits = append(r.exits, fmt.Sprintf("run %d: %v", run, err))
		stopped := r.stopped
		r.mu.Unlock()
		if stopped {
			close(r.done)
			return
		}
		time.Sleep(time.Second) // the kubelet's restart delay, roughly
		if err := r.start(); err != nil {
			r.mu.Lock()
			r.exits = append(r.exits, fmt.Sprintf("restart: %v", err))
			r.mu.Unlock()
			close(r.done)
		}
	}()
	return nil
}

// leader reports whether the slot's current process holds the lease,
// which process that is (its run number) and since when.
func (r *replica) leader() (bool, int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.leaderAt.IsZero(), r.run, r.leaderAt
}

// kill sends SIGKILL to the current process: no lease release, no
// cleanup, as when a node dies or the OOM killer strikes. It returns the
// killed process's run number; the slot then starts a new process, which
// may win the lease as well as the other replica.
func (r *replica) kill() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leaderAt = time.Time{}
	return r.run, r.cmd.Process.Signal(syscall.SIGKILL)
}

func (r *replica) stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	cmd := r.cmd
	r.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-r.done
	}
}

// describe is the replica's history and the tail of its current log, for
// failure messages.
func (r *replica) describe() string {
	r.mu.Lock()
	run, exits := r.run, append([]string(nil), r.exits...)
	r.mu.Unlock()
	data, _ := os.ReadFile(r.logPath(run))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return fmt.Sprintf("%s: %d process(es), exits %v; last log lines:\n%s", r.name, run, exits, strings.Join(lines, "\n"))
}
