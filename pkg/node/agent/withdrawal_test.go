package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	nfdfake "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned/fake"

	"github.com/mtscn/mtscn/pkg/node/discover"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// TestWithdrawalNotePublishesAtOnce: with an hour between rounds, a change
// of the installer's withdrawal note makes the agent publish within a few
// seconds (the default check interval): the withdrawn handler loses its
// sandbox attribute in the NodeFeature (so nfd-master drops its runtime
// label), and gets it back when the note is cleared.
func TestWithdrawalNotePublishesAtOnce(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "discover", "testdata", "smt-l1tf-vulnerable"))); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NodeName, cfg.ListenAddress, cfg.Interval = "worker-1", "", metav1.Duration{Duration: time.Hour}
	nfd := nfdfake.NewSimpleClientset()
	a, err := New(cfg, WithNFDClient(nfd), WithKubeClient(fake.NewSimpleClientset()), WithDiscoverOptions(func(o *discover.Options) {
		fixtureHost("smt-l1tf-vulnerable")(o)
		o.HostRoot, o.Sources, o.CRISocket = root, []string{discover.SourceKata}, "none"
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// runscSandbox reads runsc's sandbox attribute from the NodeFeature.
	runscSandbox := func() (string, bool) {
		nf, err := nfd.NfdV1alpha1().NodeFeatures(cfg.Namespace).Get(ctx, NodeFeatureName(cfg.NodeName), metav1.GetOptions{})
		if err != nil {
			return "", false
		}
		for _, inst := range nf.Spec.Features.Instances[wellknown.FeatureRuntime].Elements {
			if inst.Attributes[wellknown.RuntimeHandler] == "runsc" {
				return inst.Attributes[wellknown.RuntimeSandbox], true
			}
		}
		return "", false
	}
	waitFor := func(what string, want string) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := start.Add(2*DefaultNoteCheckInterval + 3*time.Second)
		for {
			if got, ok := runscSandbox(); ok && got == want {
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				got, _ := runscSandbox()
				t.Fatalf("%s: runsc's sandbox attribute is %q after %v, want %q", what, got, time.Since(start), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("first round", wellknown.SandboxGVisor)

	note := filepath.Join(root, withdrawal.DefaultPath)
	if err := os.MkdirAll(filepath.Dir(note), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(note, withdrawal.Marshal(withdrawal.Note{Handlers: []string{"runsc"}, Reason: withdrawal.ReasonUninstall}), withdrawal.Mode); err != nil {
		t.Fatal(err)
	}
	t.Logf("withdrawn handler unpublished after %v", waitFor("after the withdrawal", ""))
	if err := os.Remove(note); err != nil {
		t.Fatal(err)
	}
	t.Logf("cleared handler published after %v", waitFor("after the withdrawal is cleared", wellknown.SandboxGVisor))
}
