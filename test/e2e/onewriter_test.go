//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Discovery is the one writer of mtscn.io/runtime.<handler>
// (docs/node-agent.md#one-writer-per-label): on the real nodes, nfd-master
// sets it from mtscn-node's NodeFeature, and the installer
// (mtscn-node-install) never does.

// installerManager is the installer's field manager
// (pkg/node/install.FieldManager).
const installerManager = "mtscn-node-install"

// labelManagers returns the field managers of node that own label key.
func labelManagers(t *testing.T, n *v1.Node, key string) []string {
	t.Helper()
	var out []string
	for _, mf := range n.ManagedFields {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Labels map[string]any `json:"f:labels"`
			} `json:"f:metadata"`
		}
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			t.Fatalf("node %s: managedFields of %s: %v", n.Name, mf.Manager, err)
		}
		if _, ok := fields.Metadata.Labels["f:"+key]; ok {
			out = append(out, mf.Manager)
		}
	}
	slices.Sort(out)
	return out
}

// checkRuntimeLabelOwner: the node's runtime label is owned by nfd-master
// alone, and the installer owns its own state label.
func checkRuntimeLabelOwner(t *testing.T, n *v1.Node) {
	t.Helper()
	key := "mtscn.io/runtime." + gvisorHandle
	if got := labelManagers(t, n, key); !slices.Equal(got, []string{"nfd-master"}) {
		t.Errorf("node %s: %s managed by %v, want nfd-master alone (discovery's chain), never %s", n.Name, key, got, installerManager)
	}
	if got := labelManagers(t, n, "mtscn.io/sandbox-runtime"); !slices.Equal(got, []string{installerManager}) {
		t.Errorf("node %s: mtscn.io/sandbox-runtime managed by %v, want %s", n.Name, got, installerManager)
	}
}

// orderWatch samples, while an uninstall runs, whether node still has its
// runtime label and whether containerd's config files (config.toml and the
// installer's drop-in) still hold what the install wrote.
type orderWatch struct {
	mu      sync.Mutex
	samples []orderSample
	stop    context.CancelFunc
	done    chan struct{}
}

type orderSample struct {
	at            time.Time
	labelled      bool
	configChanged bool
}

func watchOrder(t *testing.T, node string, files ...string) *orderWatch {
	t.Helper()
	read := func() string {
		var s string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			s += string(b) + "\x00"
		}
		return s
	}
	installed := read()
	ctx, stop := context.WithCancel(context.Background())
	w := &orderWatch{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			n, err := e2e.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err == nil {
				s := orderSample{at: time.Now(), labelled: n.Labels["mtscn.io/runtime."+gvisorHandle] == "true"}
				s.configChanged = read() != installed
				w.mu.Lock()
				w.samples = append(w.samples, s)
				w.mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return w
}

// check stops the watch and fails when a sample saw containerd's config
// changed while the node still offered the handler.
func (w *orderWatch) check(t *testing.T, node string) {
	t.Helper()
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	var gone, changed time.Time
	for _, s := range w.samples {
		if s.configChanged && s.labelled {
			t.Errorf("node %s: containerd's config changed at %s while mtscn.io/runtime.%s was still on the Node", node, s.at.Format(time.RFC3339Nano), gvisorHandle)
		}
		if !s.labelled && gone.IsZero() {
			gone = s.at
		}
		if s.configChanged && changed.IsZero() {
			changed = s.at
		}
	}
	if gone.IsZero() || changed.IsZero() {
		t.Errorf("node %s: %d samples saw the label gone at %v and the config changed at %v; want both", node, len(w.samples), gone, changed)
		return
	}
	t.Logf("node %s: mtscn.io/runtime.%s gone %.2fs before containerd's config changed (%d samples)", node, gvisorHandle, changed.Sub(gone).Seconds(), len(w.samples))
}

// TestInstallerMayNotRemoveRuntimeLabel: the cluster enforces the one
// writer: the installer's identity on node 1 may not remove discovery's
// mtscn.io/runtime.runsc from its own Node (the admission policy).
func TestInstallerMayNotRemoveRuntimeLabel(t *testing.T) {
	ctx := context.Background()
	node := e2e.nodes[0]
	_, cfg := identityConfig(t, "mtscn-node-install-1")
	inst := kubernetes.NewForConfigOrDie(cfg)
	n, err := inst.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := "mtscn.io/runtime." + gvisorHandle
	if n.Labels[key] != "true" {
		t.Fatalf("node %s: no %s=true to remove: %v", node, key, n.Labels)
	}
	delete(n.Labels, key)
	_, err = inst.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	wantDenied(t, "mtscn-node-install on "+node+" removing discovery's label "+key, err, nodePolicy,
		"mtscn-node-install may only change the labels it owns", "not "+key)
}
