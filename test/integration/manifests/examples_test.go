package manifests

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1 "github.com/mtscn/mtscn/pkg/apis/config/v1"
	"github.com/mtscn/mtscn/pkg/tenancy"
)

// TestSandboxFrameworkExamples checks manifests/examples/sandbox-frameworks
// (a Deployment, server-side applied by TestManifestsCheck) and
// manifests/examples/agent-sandbox (a SandboxTemplate, whose CRD the tests
// do not have): both pod templates decode strictly as Kubernetes pod
// templates, name mtscn-scheduler and the gvisor RuntimeClass, and are
// sandboxed pods of tenant team-a; created as pods on a real apiserver with
// the default install they meet the admission policies exactly as the
// shipped RuntimeClasses allow.
func TestSandboxFrameworkExamples(t *testing.T) {
	templates := map[string]v1.PodTemplateSpec{}
	for _, o := range render(t, filepath.Join(manifestsDir(), "examples", "sandbox-frameworks")) {
		if o.GetKind() == "Deployment" {
			templates["Deployment "+o.GetName()] = convert[appsv1.Deployment](t, o).Spec.Template
		}
	}
	for _, o := range render(t, filepath.Join(manifestsDir(), "examples", "agent-sandbox")) {
		if o.GetKind() != "SandboxTemplate" {
			continue
		}
		if o.GetAPIVersion() != "extensions.agents.x-k8s.io/v1alpha1" {
			t.Errorf("SandboxTemplate %s: apiVersion %s, want extensions.agents.x-k8s.io/v1alpha1 (agent-sandbox's extensions API)", o.GetName(), o.GetAPIVersion())
		}
		raw, err := json.Marshal(o.Object["spec"].(map[string]any)["podTemplate"])
		if err != nil {
			t.Fatal(err)
		}
		var tmpl v1.PodTemplateSpec
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tmpl); err != nil {
			t.Errorf("SandboxTemplate %s: spec.podTemplate is not a pod template: %v", o.GetName(), err)
		}
		templates["SandboxTemplate "+o.GetName()] = tmpl
	}
	if len(templates) != 2 {
		t.Fatalf("found pod templates %v, want the Deployment's and the SandboxTemplate's", templates)
	}

	cfg := tenancy.Config{
		TenantLabelKeys:          configv1.DefaultTenantLabelKeys,
		InfrastructureNamespaces: configv1.DefaultInfrastructureNamespaces,
		SandboxedHandlers:        configv1.DefaultSandboxedHandlers,
		OffNodeHandlers:          configv1.DefaultOffNodeHandlers,
	}
	var team *v1.Namespace
	for _, o := range render(t, filepath.Join(manifestsDir(), "examples")) {
		if o.GetKind() == "Namespace" && o.GetName() == "team-a" {
			team = convert[v1.Namespace](t, o)
		}
	}
	// gVisor's RuntimeClass as gVisor documents it (handler runsc).
	gvisor := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"}
	classifier := tenancy.NewStatic(cfg, []*v1.Namespace{team}, []*nodev1.RuntimeClass{gvisor})

	cp := installDefault(t)
	waitForSandboxPolicy(t, cp)
	cp.CreateNamespace(t, team.Name, team.Labels)
	shippedGVisor := find(render(t, manifestsDir()), "RuntimeClass", "", "gvisor") != nil
	if !shippedGVisor {
		// Created by hand, as the README says until the install ships it.
		cp.CreateRuntimeClass(t, gvisor.Name, gvisor.Handler, nil, nil)
	}

	for name, tmpl := range templates {
		t.Run(name, func(t *testing.T) {
			spec := tmpl.Spec
			if spec.SchedulerName != "mtscn-scheduler" || spec.RuntimeClassName == nil || *spec.RuntimeClassName != "gvisor" {
				t.Fatalf("schedulerName %q, runtimeClassName %v: want mtscn-scheduler and gvisor", spec.SchedulerName, spec.RuntimeClassName)
			}
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "from-template", Namespace: "team-a", Labels: tmpl.Labels}, Spec: spec}
			class, err := classifier.Classify(pod)
			if err != nil {
				t.Fatal(err)
			}
			if class.Tenant != "team-a" || !class.Sandboxed {
				t.Errorf("classified as tenant %q, sandboxed %v: want a sandboxed pod of team-a", class.Tenant, class.Sandboxed)
			}
			_, err = cp.Client.CoreV1().Pods("team-a").Create(cp.Ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict})
			switch {
			case shippedGVisor && err != nil:
				t.Errorf("a pod from this template is refused in team-a: %v", err)
			case !shippedGVisor && (err == nil || !strings.Contains(err.Error(), "instead of gvisor")):
				// The install ships no gvisor RuntimeClass yet, so
				// mtscn-sandbox-required does not admit it: the README
				// says to add it.
				t.Errorf("without a shipped gvisor RuntimeClass, want mtscn-sandbox-required to refuse the pod naming gvisor; got %v", err)
			}
		})
	}
}
