package mtscnctl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startAuditWatch runs `mtscnctl audit --watch --metrics-addr 127.0.0.1:0`
// and returns the address it serves on (read from its log) and its stdout.
// It is stopped with SIGTERM at t.Cleanup and must exit 0.
func startAuditWatch(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(mtscnctlBin, append([]string{"audit", "--watch", "--metrics-addr", "127.0.0.1:0", "--interval", "200ms"}, args...)...)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout = stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mtscnctl audit --watch: %v", err)
	}
	addrCh := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`"serving /metrics and /healthz" address="([^"]+)"`)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			fmt.Fprintln(stderr, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-scanned
		if err := cmd.Wait(); err != nil {
			t.Errorf("mtscnctl audit --watch after SIGTERM: %v (want exit 0)\nstderr:\n%s", err, stderr)
		}
	})
	select {
	case addr := <-addrCh:
		return addr, stdout
	case <-time.After(60 * time.Second):
		t.Fatalf("mtscnctl audit --watch did not log its metrics address\nstderr:\n%s", stderr)
		return "", nil
	}
}

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// waitForSeries polls /metrics until it holds every line of want.
func waitForSeries(t *testing.T, addr string, want ...string) string {
	t.Helper()
	var body string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, body = scrape(t, "http://"+addr+"/metrics")
		lines := strings.Split(body, "\n")
		for _, w := range want {
			found := false
			for _, l := range lines {
				if l == w {
					found = true
					break
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("/metrics never held %q:\n%s", want, body)
	}
	return body
}

// violationSeries is the mtscn_audit_violations series with the given
// count for each rule (0 for the others).
func violationSeries(counts map[string]int) []string {
	var out []string
	for _, r := range []string{"F1", "F2", "F3", "I1", "I2", "I3", "I4"} {
		out = append(out, fmt.Sprintf(`mtscn_audit_violations{rule="%s"} %d`, r, counts[r]))
	}
	return out
}

// TestAuditWatchMetrics runs `mtscnctl audit --watch --metrics-addr` (the
// real binary) against the real apiserver and scrapes its /metrics: a clean
// cluster exports 0 for every rule; a pod bound around the scheduler next
// to another tenant's shared-kernel pod makes I1 1 (and prints a report);
// deleting it brings I1 back to 0.
func TestAuditWatchMetrics(t *testing.T) {
	cp := harness.StartControlPlane(t)
	auditCluster(t, cp, false)
	addr, stdout := startAuditWatch(t, "--kubeconfig", writeKubeconfig(t, cp.Config), "--scheduler-config", harness.ShippedConfig())

	body := waitForSeries(t, addr, append(violationSeries(nil), `mtscn_audit_objects{kind="nodes"} 8`, `mtscn_audit_objects{kind="pods"} 20`)...)
	if !strings.Contains(body, `mtscn_audit_runs_total{result="success"}`) || !strings.Contains(body, "mtscn_audit_last_success_timestamp_seconds ") {
		t.Errorf("/metrics lacks the run counters:\n%s", body)
	}
	if code, _ := scrape(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after an audit: %d, want 200", code)
	}
	if !strings.Contains(stdout.String(), "no violations") {
		t.Errorf("the first report does not say the cluster is clean:\n%s", stdout)
	}

	// Bound around the scheduler: bravo's runc pod next to alpha's runc-1.
	intruder := st.MakePod().Namespace("bravo").Name("runc-intruder").Node("n-i1").Req(map[v1.ResourceName]string{v1.ResourceMemory: "128Mi"}).Obj()
	cp.CreatePod(t, intruder)
	waitForSeries(t, addr, violationSeries(map[string]int{"I1": 1})...)
	if out := stdout.String(); !strings.Contains(out, "I1") || !strings.Contains(out, "n-i1") {
		t.Errorf("no report of the I1 violation on n-i1 was printed:\n%s", out)
	}

	if err := cp.Client.CoreV1().Pods("bravo").Delete(cp.Ctx, intruder.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitForSeries(t, addr, violationSeries(nil)...)
}

// TestAuditWatchFlags checks that --metrics-addr is refused without --watch.
func TestAuditWatchFlags(t *testing.T) {
	_, stderr, code := runAudit(t, "--metrics-addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "--metrics-addr needs --watch") {
		t.Errorf("--metrics-addr without --watch: exit %d, stderr %q; want an error naming --watch", code, stderr)
	}
}
