package nodeinstall

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/mtscn/mtscn/pkg/node/install"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// countingRestarter counts containerd restarts.
type countingRestarter struct{ n int }

func (r *countingRestarter) Restart(context.Context, string) error { r.n++; return nil }

// TestServeRetriesKeepOneEvent is issue 14 item 7 against the real
// apiserver: while the install keeps failing, serve retries without
// restarting containerd and keeps one Warning Event whose count grows,
// instead of a new Event per attempt.
func TestServeRetriesKeepOneEvent(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cp := harness.StartControlPlane(t)
	cp.CreateNode(t, st.MakeNode().Name(nodeName).Taints([]v1.Taint{startupTaint}).Obj())
	root := fixtureHost(t, "unparsable")
	restarter := &countingRestarter{}
	in, err := install.New(install.Options{
		HostRoot:     root,
		ArtifactsDir: filepath.Join(harness.RepoRoot(), "pkg/node/install/testdata/artifacts"),
	}, install.WithNode(&install.KubeNode{Client: cp.Client, Name: nodeName}), install.WithRestarter(restarter), install.WithVerifier(install.NoVerify{}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- in.Serve(runCtx, ln, install.DaemonOptions{RetryInterval: 20 * time.Millisecond, MaxRetryInterval: 80 * time.Millisecond})
	}()
	var events []v1.Event
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		events = nodeEvents(t, cp)
		return len(events) == 1 && events[0].Count >= 4, nil
	})
	stop()
	<-done
	if err != nil {
		t.Fatalf("want one Event counting the retries, got %d: %v", len(events), reasons(events))
	}
	if events[0].Type != v1.EventTypeWarning || events[0].Reason != "SandboxInstallFailed" {
		t.Errorf("event = %s %s, want Warning SandboxInstallFailed", events[0].Type, events[0].Reason)
	}
	if restarter.n != 0 {
		t.Errorf("containerd restarted %d times by failing installs", restarter.n)
	}
}
