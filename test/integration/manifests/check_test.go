package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/tenancy"
	"github.com/mtscn/mtscn/test/integration/harness"
)

// kustomizationDirs returns every directory under manifests/ holding a
// kustomization.yaml, relative to manifests/, split into roots (Kind
// Kustomization) and components (Kind Component, rendered through an
// overlay).
func kustomizationDirs(t *testing.T) (roots, components []string) {
	t.Helper()
	base := manifestsDir()
	err := filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, filepath.Dir(path))
		var k struct{ Kind string }
		if err := yaml.Unmarshal(data, &k); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if k.Kind == "Component" {
			components = append(components, rel)
		} else {
			roots = append(roots, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", base, err)
	}
	return roots, components
}

// remoteOverlays need the network; TestWithNFDOverlay renders them against
// the module cache instead.
var remoteOverlays = map[string]bool{"overlays/with-nfd": true}

// foreignCRDs are examples whose objects need CRDs the tests do not have;
// TestSandboxFrameworkExamples checks what it can of them.
var foreignCRDs = map[string]string{"examples/agent-sandbox": "agent-sandbox's SandboxTemplate CRD"}

// TestManifestLayout fails on a YAML file that no kustomization includes:
// it would be shipped in the repository but never installed.
func TestManifestLayout(t *testing.T) {
	base := manifestsDir()
	// Inputs of `mtscnctl simulate`, not objects to apply; the Helm chart
	// (its files/ are copies of the sources, checked by chart_test.go).
	skip := map[string]bool{"examples/simulate": true, "charts": true}
	err := filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		if d.IsDir() {
			if skip[rel] {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "kustomization.yaml" || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		kpath := filepath.Join(filepath.Dir(path), "kustomization.yaml")
		kdata, err := os.ReadFile(kpath)
		if err != nil {
			t.Errorf("%s: no kustomization.yaml next to it includes it: add one, or list the file in a parent's resources", rel)
			return nil
		}
		if !regexp.MustCompile(`(?m)^\s*-\s+` + regexp.QuoteMeta(d.Name()) + `\s*$`).Match(kdata) {
			t.Errorf("%s: not listed in %s: add it to resources (or files)", rel, filepath.Join(filepath.Dir(rel), "kustomization.yaml"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// componentOverlay writes an overlay that adds component (a directory
// under manifests/components) to the default install and returns its
// directory.
func componentOverlay(t *testing.T, component string) string {
	t.Helper()
	dir := t.TempDir()
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n",
		relPath(t, dir, manifestsDir()), relPath(t, dir, filepath.Join(manifestsDir(), component)))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withNFDOverlay rewrites overlays/with-nfd to use the NFD deployment of
// the module cache (the same version go.mod pins, which the test checks
// against the remote URL's ref) instead of GitHub.
func withNFDOverlay(t *testing.T) string {
	t.Helper()
	src := filepath.Join(manifestsDir(), "overlays", "with-nfd", "kustomization.yaml")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`https://github\.com/kubernetes-sigs/node-feature-discovery/deployment/overlays/default\?ref=(v\S+)`)
	m := re.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s: no remote NFD base (%s)", src, re)
	}
	if got, want := string(m[1]), moduleVersion(t, nfdModule); got != want {
		t.Fatalf("%s installs NFD %s, but mtscn is built and tested against %s (go.mod): change ?ref=%s", src, got, want, want)
	}
	dir := t.TempDir()
	data = re.ReplaceAll(data, []byte(relPath(t, dir, filepath.Join(moduleDir(t, nfdModule), "deployment", "overlays", "default"))))
	data = regexp.MustCompile(`(?m)^(\s*-\s+)\.\./\.\.\s*$`).ReplaceAll(data, []byte("${1}"+relPath(t, dir, manifestsDir())))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// relPath returns target relative to dir: kustomize refuses absolute paths
// to bases and components.
func relPath(t *testing.T, dir, target string) string {
	t.Helper()
	rel, err := filepath.Rel(dir, target)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatalf("kustomization %s renders no objects", dir)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("decoding %s: %v", describe(u), err)
	}
	return out
}

// TestManifestsCheck is `make manifests-check`: it renders every
// kustomization (and each optional component on top of the default
// install) and server-side applies the result, with strict field
// validation, to a real kube-apiserver with NFD's and scheduler-plugins'
// CRDs installed. The example pods are applied after the admission
// policies are in force, so they must satisfy them.
func TestManifestsCheck(t *testing.T) {
	roots, components := kustomizationDirs(t)
	sort.Strings(roots)
	if !slices.Contains(roots, ".") || len(components) == 0 {
		t.Fatalf("found kustomizations %v and components %v under %s: want the default install at the top and optional components", roots, components, manifestsDir())
	}

	cp := harness.StartFullControlPlane(t)
	cp.InstallCRDs(t, nfdCRDs(t))
	cp.InstallCRDs(t, schedulerPluginsCRDs(t)...)
	applier, err := NewApplier(cp.Config)
	if err != nil {
		t.Fatal(err)
	}

	// The default install first: the examples need its namespace,
	// RuntimeClasses and policies.
	if err := applier.Apply(cp.Ctx, render(t, manifestsDir()), false); err != nil {
		t.Fatalf("default install (manifests/): %v", err)
	}
	waitForSandboxPolicy(t, cp)

	for _, rel := range roots {
		if rel == "." || remoteOverlays[rel] {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			if crd, ok := foreignCRDs[rel]; ok {
				t.Skipf("needs %s: checked by TestSandboxFrameworkExamples", crd)
			}
			if err := applier.Apply(cp.Ctx, render(t, filepath.Join(manifestsDir(), rel)), false); err != nil {
				t.Fatalf("manifests/%s: %v", rel, err)
			}
		})
	}
	for _, rel := range components {
		t.Run(rel, func(t *testing.T) {
			objs := render(t, componentOverlay(t, rel))
			// A component for an API this server does not serve (e.g. the
			// feature-gated MutatingAdmissionPolicy) is checked by its own
			// test on a server that serves it.
			if rel == "components/mutating-policy" {
				t.Skip("needs MutatingAdmissionPolicy (beta, off by default): checked by TestMutatingPolicy")
			}
			if err := applier.Apply(cp.Ctx, objs, false); err != nil {
				t.Fatalf("manifests/%s on the default install: %v", rel, err)
			}
		})
	}
	t.Run("overlays/with-nfd", func(t *testing.T) {
		objs := render(t, withNFDOverlay(t))
		for _, want := range [][3]string{{"Deployment", "node-feature-discovery", "nfd-master"}, {"DaemonSet", "node-feature-discovery", "nfd-worker"}, {"Deployment", "mtscn-system", "mtscn-scheduler"}} {
			if find(objs, want[0], want[1], want[2]) == nil {
				t.Errorf("overlays/with-nfd renders no %s %s/%s", want[0], want[1], want[2])
			}
		}
		if err := applier.Apply(cp.Ctx, objs, false); err != nil {
			t.Fatalf("manifests/overlays/with-nfd (NFD %s from the module cache): %v", moduleVersion(t, nfdModule), err)
		}
	})
}

// waitForSandboxPolicy waits until mtscn-sandbox-required rejects an
// unsandboxed pod: policies take effect a moment after they are created.
func waitForSandboxPolicy(t *testing.T, cp *harness.ControlPlane) {
	t.Helper()
	ns := "policy-probe"
	if _, err := cp.Client.CoreV1().Namespaces().Get(cp.Ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		cp.CreateNamespace(t, ns, map[string]string{"mtscn.io/sandbox": "required"})
	}
	probe := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
	waitForDenial(t, cp.Ctx, "mtscn-sandbox-required", func(ctx context.Context) error {
		_, err := cp.Client.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
}

// waitForDenial polls until do fails with a denial from the named policy.
func waitForDenial(t *testing.T, ctx context.Context, policy string, do func(context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = do(ctx)
		return last != nil && strings.Contains(last.Error(), "ValidatingAdmissionPolicy '"+policy+"'"), nil
	})
	if err != nil {
		t.Fatalf("policy %s did not take effect within 30s (last result: %v)", policy, last)
	}
}

// TestManifestConsistency ties the manifests to the code and to each
// other: the scheduler runs the shipped configuration, the policy's list
// of sandboxed RuntimeClasses is exactly the RuntimeClasses mtscn's
// classifier treats as sandboxed, and the examples are what they claim.
func TestManifestConsistency(t *testing.T) {
	objs := render(t, manifestsDir())

	t.Run("scheduler runs the shipped configuration", func(t *testing.T) {
		dep := find(objs, "Deployment", "mtscn-system", "mtscn-scheduler")
		if dep == nil {
			t.Fatal("no Deployment mtscn-system/mtscn-scheduler")
		}
		d := convert[appsv1.Deployment](t, dep)
		var cmName string
		for _, vol := range d.Spec.Template.Spec.Volumes {
			if vol.ConfigMap != nil {
				cmName = vol.ConfigMap.Name
			}
		}
		cm := find(objs, "ConfigMap", "mtscn-system", cmName)
		if cm == nil {
			t.Fatalf("the scheduler mounts ConfigMap %q, which the install does not contain", cmName)
		}
		want, err := os.ReadFile(harness.ShippedConfig())
		if err != nil {
			t.Fatal(err)
		}
		got := convert[v1.ConfigMap](t, cm).Data["scheduler-config.yaml"]
		if diff := cmp.Diff(string(want), got); diff != "" {
			t.Errorf("ConfigMap %s differs from manifests/scheduler/scheduler-config.yaml (-want,+got):\n%s", cmName, diff)
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--config=/etc/mtscn/scheduler-config.yaml") {
			t.Errorf("scheduler args %v do not load the mounted configuration", args)
		}
	})

	t.Run("policy allows exactly the sandboxed RuntimeClasses", func(t *testing.T) {
		cfg := tenancy.Config{
			TenantLabelKeys:          configv1.DefaultTenantLabelKeys,
			InfrastructureNamespaces: configv1.DefaultInfrastructureNamespaces,
			SandboxedHandlers:        configv1.DefaultSandboxedHandlers,
			OffNodeHandlers:          configv1.DefaultOffNodeHandlers,
		}
		var rcs []*nodev1.RuntimeClass
		for _, o := range objs {
			if o.GetKind() == "RuntimeClass" {
				rcs = append(rcs, convert[nodev1.RuntimeClass](t, o))
			}
		}
		classifier := tenancy.NewStatic(cfg, nil, rcs)
		var sandboxed []string
		for _, rc := range rcs {
			if classifier.RuntimeOf(rc).Sandboxed {
				sandboxed = append(sandboxed, rc.Name)
			}
		}
		params := find(objs, "ConfigMap", "mtscn-system", "mtscn-sandbox-policy")
		if params == nil {
			t.Fatal("no ConfigMap mtscn-system/mtscn-sandbox-policy")
		}
		var allowed []string
		for _, s := range strings.Split(convert[v1.ConfigMap](t, params).Data["sandboxedRuntimeClasses"], ",") {
			if s = strings.TrimSpace(s); s != "" {
				allowed = append(allowed, s)
			}
		}
		sort.Strings(sandboxed)
		sort.Strings(allowed)
		if len(sandboxed) == 0 {
			t.Fatal("the install ships no sandboxed RuntimeClass")
		}
		if diff := cmp.Diff(sandboxed, allowed); diff != "" {
			t.Errorf("mtscn-sandbox-policy sandboxedRuntimeClasses differ from the shipped sandboxed RuntimeClasses (-want,+got):\n%s", diff)
		}
	})

	t.Run("example pods are sandboxed pods of a sandbox-required tenant", func(t *testing.T) {
		examples := render(t, filepath.Join(manifestsDir(), "examples"))
		var nss []*v1.Namespace
		var rcs []*nodev1.RuntimeClass
		for _, o := range append(objs, examples...) {
			switch o.GetKind() {
			case "Namespace":
				nss = append(nss, convert[v1.Namespace](t, o))
			case "RuntimeClass":
				rcs = append(rcs, convert[nodev1.RuntimeClass](t, o))
			}
		}
		classifier := tenancy.NewStatic(tenancy.Config{
			TenantLabelKeys:          configv1.DefaultTenantLabelKeys,
			InfrastructureNamespaces: configv1.DefaultInfrastructureNamespaces,
			SandboxedHandlers:        configv1.DefaultSandboxedHandlers,
			OffNodeHandlers:          configv1.DefaultOffNodeHandlers,
		}, nss, rcs)
		pods := 0
		for _, o := range examples {
			if o.GetKind() != "Pod" {
				continue
			}
			pods++
			pod := convert[v1.Pod](t, o)
			class, err := classifier.Classify(pod)
			if err != nil {
				t.Errorf("classifying example pod %s: %v", pod.Name, err)
				continue
			}
			want := tenancy.PodClass{
				NamespacePolicy: tenancy.NamespacePolicy{Tenant: "team-a", SandboxRequired: true},
				Runtime:         tenancy.Runtime{RuntimeClassName: *pod.Spec.RuntimeClassName, Handler: *pod.Spec.RuntimeClassName, Sandboxed: true},
			}
			if diff := cmp.Diff(want, class); diff != "" {
				t.Errorf("example pod %s (-want,+got):\n%s", pod.Name, diff)
			}
		}
		if pods != 3 {
			t.Errorf("examples hold %d pods, want the Kata, QAT and TDX pods", pods)
		}
	})
}
