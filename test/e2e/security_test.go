//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	nfdclient "sigs.k8s.io/node-feature-discovery/api/generated/clientset/versioned"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

const (
	nodeNameExtra     = "authentication.kubernetes.io/node-name"
	nodePolicy        = "mtscn-node-own-node"
	nodeFeaturePolicy = "mtscn-node-own-nodefeature"
	agentNamespace    = "mtscn-system"
	nfdNodeNameLabel  = "nfd.node.kubernetes.io/node-name"
)

// identityConfig loads the kubeconfig hack/e2e/run.sh wrote for a product
// process (hack/e2e/lib.sh identity_kubeconfig).
func identityConfig(t *testing.T, name string) (string, *rest.Config) {
	t.Helper()
	path := filepath.Join(e2e.dir, "identities", name+".kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("identity %s: %v", name, err)
	}
	return path, cfg
}

func whoIs(t *testing.T, cfg *rest.Config) authenticationv1.UserInfo {
	t.Helper()
	r, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	return r.Status.UserInfo
}

// processUses reports whether the running process recorded as pid file
// name (hack/e2e/lib.sh start_bg) was started with kubeconfig, directly or
// through its --config file (the scheduler's clientConnection.kubeconfig).
func processUses(t *testing.T, name, kubeconfig string) bool {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(os.Getenv("MTSCN_E2E_RUN"), "pids", name+".pid"))
	if err != nil {
		t.Fatalf("process %s: %v", name, err)
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "cmdline"))
	if err != nil {
		t.Fatalf("process %s (pid %s) is not running: %v", name, strings.TrimSpace(string(pid)), err)
	}
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if strings.Contains(arg, kubeconfig) {
			return true
		}
		if cfg, ok := strings.CutPrefix(arg, "--config="); ok {
			if data, err := os.ReadFile(cfg); err == nil && strings.Contains(string(data), "kubeconfig: "+kubeconfig+"\n") {
				return true
			}
		}
	}
	return false
}

// wantDenied checks that err is the given ValidatingAdmissionPolicy's
// refusal and that its message contains each of want.
func wantDenied(t *testing.T, what string, err error, policy string, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s was allowed; want the ValidatingAdmissionPolicy %s to refuse it", what, policy)
		return
	}
	msg := err.Error()
	if !apierrors.IsForbidden(err) || !strings.Contains(msg, "ValidatingAdmissionPolicy '"+policy+"'") {
		t.Errorf("%s: want a refusal by the ValidatingAdmissionPolicy %s, got: %v", what, policy, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: refused, but the message does not say %q: %s", what, w, msg)
		}
	}
	t.Logf("%s refused: %s", what, msg)
}

// flip returns a label value different from v.
func flip(v string) string {
	if v == "true" {
		return "false"
	}
	return "true"
}

// TestAgentIdentities: mtscn's processes run with the identities their
// manifests give them, not as cluster admin: the shipped RBAC and
// manifests/node-agent/node-admission-policy.yaml apply to them (every
// other check passing shows they suffice). The node agents' tokens are
// bound to their Node, so the agent of one node cannot label another
// node or write another node's NodeFeature, and the policies' messages
// say why.
func TestAgentIdentities(t *testing.T) {
	ctx := context.Background()
	a := e2e.nodes[0]

	t.Run("each process runs as its ServiceAccount", func(t *testing.T) {
		type identity struct{ name, process, user, node string }
		ids := []identity{
			{"mtscn-scheduler", "mtscn-scheduler", "system:serviceaccount:mtscn-system:mtscn-scheduler", ""},
			{"nfd-master", "nfd-master", "system:serviceaccount:node-feature-discovery:nfd-master", ""},
		}
		for i, n := range e2e.nodes {
			ids = append(ids,
				identity{fmt.Sprintf("mtscn-node-%d", i+1), fmt.Sprintf("mtscn-node-%d", i+1), "system:serviceaccount:mtscn-system:mtscn-node", n},
				// A one-shot command (run.sh, gvisor.sh): nothing runs now.
				identity{fmt.Sprintf("mtscn-node-install-%d", i+1), "", "system:serviceaccount:mtscn-system:mtscn-node-install", n})
		}
		for _, id := range ids {
			path, cfg := identityConfig(t, id.name)
			if id.process != "" && !processUses(t, id.process, path) {
				t.Errorf("%s does not run with %s", id.process, path)
			}
			u := whoIs(t, cfg)
			if u.Username != id.user {
				t.Errorf("%s authenticates as %s, want %s", id.name, u.Username, id.user)
			}
			// system:serviceaccount:<namespace>:<name>
			ns := strings.Split(id.user, ":")[2]
			for _, g := range []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"} {
				if !slices.Contains(u.Groups, g) {
					t.Errorf("%s: groups %v lack %s", id.name, u.Groups, g)
				}
			}
			if got := u.Extra[nodeNameExtra]; id.node != "" && (len(got) != 1 || got[0] != id.node) {
				t.Errorf("%s: %s=%v, want [%s]", id.name, nodeNameExtra, got, id.node)
			}
			t.Logf("%s: %s, groups %v, %s=%v", id.name, u.Username, u.Groups, nodeNameExtra, []string(u.Extra[nodeNameExtra]))
		}
	})

	// The installer of node A (get and update on Nodes by RBAC).
	_, instCfg := identityConfig(t, "mtscn-node-install-1")
	inst := kubernetes.NewForConfigOrDie(instCfg)

	t.Run("installer may update its own Node", func(t *testing.T) {
		n, err := inst.CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			t.Errorf("mtscn-node-install on %s updating its own Node unchanged: %v", a, err)
		}
	})

	t.Run("installer may not mark its own node cotenancy-safe", func(t *testing.T) {
		n, err := inst.CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels[wellknown.LabelCotenancySafe] = flip(n.Labels[wellknown.LabelCotenancySafe])
		_, err = inst.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		wantDenied(t, "mtscn-node-install on "+a+" setting discovery's label mtscn.io/cotenancy-safe", err, nodePolicy,
			"mtscn-node-install may only change the labels it owns", "not mtscn.io/cotenancy-safe")
	})

	t.Run("installer of one node may not label another", func(t *testing.T) {
		if len(e2e.nodes) < 2 {
			t.Skip("one node (E2E_NODES=1)")
		}
		b := e2e.nodes[1]
		n, err := inst.CoreV1().Nodes().Get(ctx, b, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before := n.Labels[wellknown.LabelSandboxRuntime]
		n.Labels[wellknown.LabelSandboxRuntime] = "pending"
		if before == "pending" {
			n.Labels[wellknown.LabelSandboxRuntime] = "true"
		}
		_, err = inst.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		wantDenied(t, "mtscn-node-install on "+a+" labelling node "+b, err, nodePolicy,
			fmt.Sprintf("mtscn-node-install on node %s may only change its own Node, not %s", a, b))
		after, err := e2e.client.CoreV1().Nodes().Get(ctx, b, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Labels[wellknown.LabelSandboxRuntime] != before {
			t.Errorf("node %s: mtscn.io/sandbox-runtime=%q, was %q", b, after.Labels[wellknown.LabelSandboxRuntime], before)
		}
	})

	// Discovery of node A (its own NodeFeature by RBAC, no Nodes).
	_, agentCfg := identityConfig(t, "mtscn-node-1")
	agent := nfdclient.NewForConfigOrDie(agentCfg).NfdV1alpha1().NodeFeatures(agentNamespace)
	ownName := "mtscn-node-" + a

	t.Run("agent has no access to Nodes", func(t *testing.T) {
		_, err := kubernetes.NewForConfigOrDie(agentCfg).CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("mtscn-node reading its Node: %v, want forbidden (manifests/node-agent/rbac.yaml gives it no Nodes)", err)
		}
	})

	t.Run("agent of one node may not write another node's NodeFeature", func(t *testing.T) {
		if len(e2e.nodes) < 2 {
			t.Skip("one node (E2E_NODES=1)")
		}
		b := e2e.nodes[1]
		var nf *nfdv1alpha1.NodeFeature
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			nf, err = agent.Get(ctx, "mtscn-node-"+b, metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("NodeFeature %s/mtscn-node-%s (published by %s's agent) not readable by %s's agent: %v", agentNamespace, b, b, a, err)
		}
		if nf.Spec.Labels == nil {
			nf.Spec.Labels = map[string]string{}
		}
		nf.Spec.Labels[wellknown.LabelCotenancySafe] = flip(nf.Spec.Labels[wellknown.LabelCotenancySafe])
		_, err = agent.Update(ctx, nf, metav1.UpdateOptions{})
		wantDenied(t, "mtscn-node on "+a+" writing the NodeFeature of "+b, err, nodeFeaturePolicy,
			fmt.Sprintf("mtscn-node on node %s may only write the NodeFeature mtscn-node-%s, not mtscn-node-%s", a, a, b))
	})

	t.Run("agent may not claim the NodeFeature of a node still to come", func(t *testing.T) {
		future := "mtscn-e2e-9"
		nf := &nfdv1alpha1.NodeFeature{
			ObjectMeta: metav1.ObjectMeta{Name: "mtscn-node-" + future, Labels: map[string]string{nfdNodeNameLabel: future}},
		}
		_, err := agent.Create(ctx, nf, metav1.CreateOptions{})
		if err == nil {
			// Allowed by mistake: remove it as admin.
			admin, cerr := clientcmd.BuildConfigFromFlags("", e2e.kubeconfig)
			if cerr == nil {
				_ = nfdclient.NewForConfigOrDie(admin).NfdV1alpha1().NodeFeatures(agentNamespace).Delete(ctx, nf.Name, metav1.DeleteOptions{})
			}
		}
		wantDenied(t, "mtscn-node on "+a+" creating the NodeFeature of node "+future, err, nodeFeaturePolicy,
			fmt.Sprintf("may only write the NodeFeature %s, not mtscn-node-%s", ownName, future))
	})

	t.Run("agent may not publish labels it does not own", func(t *testing.T) {
		nf, err := agent.Get(ctx, ownName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("mtscn-node on %s reading its own NodeFeature: %v", a, err)
		}
		if nf.Spec.Labels == nil {
			nf.Spec.Labels = map[string]string{}
		}
		nf.Spec.Labels["node-role.kubernetes.io/e2e-steered"] = "true"
		_, err = agent.Update(ctx, nf, metav1.UpdateOptions{})
		wantDenied(t, "mtscn-node on "+a+" publishing node-role.kubernetes.io/e2e-steered", err, nodeFeaturePolicy,
			"mtscn-node may only publish the node labels it owns", "not node-role.kubernetes.io/e2e-steered")
	})

	t.Run("a token not bound to a node is refused", func(t *testing.T) {
		tr, err := e2e.client.CoreV1().ServiceAccounts(agentNamespace).CreateToken(ctx, "mtscn-node", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.AnonymousClientConfig(agentCfg)
		cfg.BearerToken = tr.Status.Token
		unbound := nfdclient.NewForConfigOrDie(cfg).NfdV1alpha1().NodeFeatures(agentNamespace)
		nf, err := unbound.Get(ctx, ownName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = unbound.Update(ctx, nf, metav1.UpdateOptions{})
		wantDenied(t, "mtscn-node with a token bound to no node writing "+ownName, err, nodeFeaturePolicy,
			"token names no node")
	})
}
