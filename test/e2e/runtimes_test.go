//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtscn/mtscn/pkg/node/containerd"
)

// containerdMajor is the major version of node i's containerd (0-based), as
// hack/e2e/run.sh started it: "1" (Debian's 1.6) or "2" (bin/containerd2).
func containerdMajor(t *testing.T, i int) string {
	t.Helper()
	majors := strings.Fields(os.Getenv("MTSCN_E2E_CONTAINERD"))
	if i >= len(majors) {
		t.Fatalf("MTSCN_E2E_CONTAINERD=%q names no containerd for node %d", os.Getenv("MTSCN_E2E_CONTAINERD"), i+1)
	}
	return majors[i]
}

// nodeFiles are node i's containerd config, its copy from before the
// install and the installer's drop-in (hack/e2e/node.sh).
func nodeFiles(i int) (config, before, dropIn string) {
	d := filepath.Join(e2e.dir, fmt.Sprintf("node%d", i+1))
	return filepath.Join(d, "containerd", "config.toml"), filepath.Join(d, "config.toml.before-install"),
		filepath.Join(d, "containerd", "conf.d", "mtscn.toml")
}

// runtimesIn returns the CRI runtimes a containerd config file defines.
func runtimesIn(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := containerd.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	version, _ := doc["version"].(int64)
	return containerd.Table(doc, "plugins", containerd.CRIPlugin(int(version)), "containerd", "runtimes")
}

// TestGVisorEachNode: every node runs gVisor pods, whichever containerd it
// has. With make e2e's default the nodes differ as in a cluster half way
// through a containerd upgrade: node 1 runs Debian's containerd 1.6, where
// mtscn-node install added runsc to config.toml's CRI table, node 2
// containerd 2.x, where it wrote a drop-in and left config.toml alone.
func TestGVisorEachNode(t *testing.T) {
	gvisorRuntimeClass(t)
	ctx := context.Background()
	ns := tenant(t, "mu")
	host, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Fatal(err)
	}
	for i, node := range e2e.nodes {
		major := containerdMajor(t, i)
		n, err := e2e.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := n.Status.NodeInfo.ContainerRuntimeVersion; !strings.HasPrefix(v, "containerd://"+major+".") {
			t.Errorf("node %s runs %s, want containerd %s.x", node, v, major)
		}

		config, before, dropIn := nodeFiles(i)
		_, dropInErr := os.Stat(dropIn)
		switch major {
		case "1":
			if _, ok := runtimesIn(t, config)[gvisorHandle]; !ok {
				t.Errorf("node %s (containerd 1.x): %s defines no %s runtime; the installer adds it there", node, config, gvisorHandle)
			}
			if dropInErr == nil {
				t.Errorf("node %s (containerd 1.x): drop-in %s exists; 1.x replaces whole plugin tables, so the installer edits config.toml", node, dropIn)
			}
		case "2":
			if _, ok := runtimesIn(t, dropIn)[gvisorHandle]; !ok {
				t.Errorf("node %s (containerd 2.x): drop-in %s defines no %s runtime", node, dropIn, gvisorHandle)
			}
			got, err1 := os.ReadFile(config)
			want, err2 := os.ReadFile(before)
			if err1 != nil || err2 != nil || string(got) != string(want) {
				t.Errorf("node %s (containerd 2.x): config.toml changed by the install (its conf.d import already covers the drop-in)", node)
			}
		}

		start := time.Now()
		p := create(t, pod(ns, "gvisor-"+node, gvisorClass, node))
		p, took := waitRunning(t, p, start)
		line := logs(t, p)
		if strings.Contains(line, strings.TrimSpace(string(host))) || !strings.Contains(line, "kernel: Linux version") {
			t.Errorf("gVisor pod on %s: log %q, want gVisor's kernel, not the host's", node, line)
		}
		report(t, "gVisor pod on %s (%s), created -> Running in %.2fs; its log: %s", node, n.Status.NodeInfo.ContainerRuntimeVersion, took.Seconds(), line)
		deletePod(t, ns, p.Name)
	}
}
