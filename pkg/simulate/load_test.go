package simulate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	nodeDoc = `apiVersion: v1
kind: Node
metadata: {name: n1}
status: {capacity: {cpu: "8", memory: 16Gi}}
`
	nsDoc = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {mtscn.io/tenant: shop}}
`
	rcDoc = `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata-qemu}
handler: kata-qemu
`
	podDoc = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  runtimeClassName: kata-qemu
  containers: [{name: app, resources: {requests: {memory: 1Gi}}}]
`
)

func join(docs ...string) string { return strings.Join(docs, "---\n") }

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  InputError
	}{
		{
			name:  "unknown kind",
			input: join(nodeDoc, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"),
			want:  InputError{Document: 2, Object: `Deployment "web"`, Field: "kind", Problem: `"Deployment" is not supported: simulate reads Node, Namespace, RuntimeClass and Pod (write a Deployment's pods out as Pods)`},
		},
		{
			name:  "missing kind",
			input: join(nodeDoc, "apiVersion: v1\nmetadata: {name: x}\n"),
			want:  InputError{Document: 2, Field: "kind", Problem: "missing: every document needs apiVersion and kind (Node, Namespace, RuntimeClass or Pod)"},
		},
		{
			name:  "wrong apiVersion",
			input: join(nodeDoc, "apiVersion: node.k8s.io/v1beta1\nkind: RuntimeClass\nmetadata: {name: kata}\nhandler: kata\n"),
			want:  InputError{Document: 2, Object: `RuntimeClass "kata"`, Field: "apiVersion", Problem: `"node.k8s.io/v1beta1" is not supported for RuntimeClass: use "node.k8s.io/v1"`},
		},
		{
			name:  "missing name",
			input: "apiVersion: v1\nkind: Node\nstatus: {capacity: {cpu: \"1\", memory: 1Gi}}\n",
			want:  InputError{Document: 1, Object: `Node ""`, Field: "metadata.name", Problem: "missing"},
		},
		{
			name:  "node without memory",
			input: "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {capacity: {cpu: \"8\"}}\n",
			want:  InputError{Document: 1, Object: `Node "n1"`, Field: "status.capacity.memory", Problem: `missing: give the node's size, e.g. status: {capacity: {cpu: "8", memory: 16Gi}}`},
		},
		{
			name:  "runtime class without handler",
			input: join(nodeDoc, "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: kata}\n"),
			want:  InputError{Document: 2, Object: `RuntimeClass "kata"`, Field: "handler", Problem: "missing: name the CRI handler, e.g. handler: kata-qemu"},
		},
		{
			name:  "pod in a missing namespace",
			input: join(nodeDoc, rcDoc, podDoc),
			want:  InputError{Document: 3, Object: `Pod "shop/web"`, Field: "metadata.namespace", Problem: `namespace "shop" is not defined: add a Namespace document named "shop" (with its tenant and policy labels)`},
		},
		{
			name:  "pod without containers",
			input: join(nodeDoc, nsDoc, "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {}\n"),
			want:  InputError{Document: 3, Object: `Pod "shop/web"`, Field: "spec.containers", Problem: "missing: a pod needs at least one container (name, image and resources)"},
		},
		{
			name:  "pod with a missing runtime class",
			input: join(nodeDoc, nsDoc, podDoc),
			want:  InputError{Document: 3, Object: `Pod "shop/web"`, Field: "spec.runtimeClassName", Problem: `RuntimeClass "kata-qemu" is not defined: add a RuntimeClass document named "kata-qemu"`},
		},
		{
			name:  "existing pod on a missing node",
			input: join(nodeDoc, "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec: {nodeName: n9, containers: [{name: db}]}\n"),
			want:  InputError{Document: 2, Object: `Pod "db"`, Field: "spec.nodeName", Problem: `Node "n9" is not defined: add it, or remove spec.nodeName to have the pod scheduled`},
		},
		{
			name:  "duplicate node",
			input: join(nodeDoc, nodeDoc),
			want:  InputError{Document: 2, Object: `Node "n1"`, Field: "metadata.name", Problem: "defined twice"},
		},
		{
			name:  "no nodes",
			input: nsDoc,
			want:  InputError{Document: 1, Problem: "no Node: add at least one Node for the pods to go to"},
		},
		{
			name:  "empty file",
			input: "# nothing\n---\n",
			want:  InputError{Document: 1, Problem: "no objects: the file needs Nodes and Pods (and the Namespaces and RuntimeClasses they use)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.input), "cluster.yaml")
			var got *InputError
			if !errors.As(err, &got) {
				t.Fatalf("Load error = %v, want an *InputError", err)
			}
			tc.want.Source = "cluster.yaml"
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("error (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestLoadUnknownFieldNamesTheField(t *testing.T) {
	input := join(nodeDoc, nsDoc, "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: [{name: app, resource: {}}]}\n")
	_, err := Load(strings.NewReader(input), "f.yaml")
	if err == nil || !strings.Contains(err.Error(), `f.yaml: document 3: Pod "shop/web": decoding:`) || !strings.Contains(err.Error(), `unknown field "spec.containers[0].resource"`) {
		t.Errorf("error = %v, want one naming the document, the pod and the unknown field", err)
	}
}

func TestLoadSplitsExistingAndNewPods(t *testing.T) {
	input := join(
		"# a leading comment-only document is skipped\n",
		podDoc, nodeDoc, nsDoc, rcDoc,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: shop}\nspec: {nodeName: n1, containers: [{name: db}]}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: job}\nspec: {containers: [{name: job}]}\n",
	)
	sc, err := Load(strings.NewReader(input), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Nodes, Namespaces, RuntimeClasses, Existing, New []string
	}
	got := summary{}
	for _, n := range sc.Nodes {
		got.Nodes = append(got.Nodes, n.Name)
	}
	for _, n := range sc.Namespaces {
		got.Namespaces = append(got.Namespaces, n.Name)
	}
	for _, r := range sc.RuntimeClasses {
		got.RuntimeClasses = append(got.RuntimeClasses, r.Name)
	}
	for _, p := range sc.ExistingPods {
		got.Existing = append(got.Existing, p.Namespace+"/"+p.Name+"@"+p.Spec.NodeName)
	}
	for _, p := range sc.NewPods {
		got.New = append(got.New, p.Namespace+"/"+p.Name+":"+p.Spec.Containers[0].Image)
	}
	want := summary{
		Nodes: []string{"n1"}, Namespaces: []string{"shop"}, RuntimeClasses: []string{"kata-qemu"},
		Existing: []string{"shop/db@n1"},
		New:      []string{"shop/web:registry.k8s.io/pause:3.10", "default/job:registry.k8s.io/pause:3.10"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scenario (-want,+got):\n%s", diff)
	}
}

// TestLoadShippedExamples keeps the examples loadable.
func TestLoadShippedExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "manifests", "examples", "simulate", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples in manifests/examples/simulate")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := Load(strings.NewReader(string(data)), f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(sc.NewPods) == 0 {
			t.Errorf("%s has no new pods to place", f)
		}
	}
}
