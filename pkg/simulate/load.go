package simulate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// The kinds a simulate file may hold.
var supportedKinds = map[string]string{
	"Node":         "v1",
	"Namespace":    "v1",
	"Pod":          "v1",
	"RuntimeClass": "node.k8s.io/v1",
}

// strictDecoder rejects unknown and duplicate fields, naming their path.
var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// builtinNamespaces exist in every cluster; pods may use them without a
// Namespace document.
var builtinNamespaces = map[string]bool{
	metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true, v1.NamespaceNodeLease: true,
}

// InputError is a problem with one object of a simulate file.
type InputError struct {
	// Source is the file name.
	Source string
	// Document is the 1-based index of the YAML document.
	Document int
	// Object is `Kind "name"` (or `Kind "namespace/name"` for pods), empty
	// when the document has no usable kind.
	Object string
	// Field is the path of the offending field (e.g. "spec.containers").
	Field string
	// Problem says what is wrong and how to fix it.
	Problem string
}

func (e *InputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: document %d", e.Source, e.Document)
	if e.Object != "" {
		fmt.Fprintf(&b, ": %s", e.Object)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Problem)
	return b.String()
}

// typeMeta is what every document must start with.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// doc is one decoded object with where it came from.
type doc struct {
	index int
	obj   any
	label string
}

// Load reads a multi-document YAML (or JSON) stream of Nodes, Namespaces,
// RuntimeClasses and Pods. Pods with spec.nodeName are existing pods; the
// others are new pods, scheduled in file order. Every problem is reported
// as an *InputError naming the document, the object and the field.
func Load(r io.Reader, source string) (*Scenario, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	sc := &Scenario{}
	var docs []doc
	for index := 1; ; index++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &InputError{Source: source, Document: index, Problem: fmt.Sprintf("reading YAML: %v", err)}
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			index--
			continue
		}
		d, err := decodeDoc(raw, source, index)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil, &InputError{Source: source, Document: 1, Problem: "no objects: the file needs Nodes and Pods (and the Namespaces and RuntimeClasses they use)"}
	}
	if err := collect(sc, docs, source); err != nil {
		return nil, err
	}
	return sc, nil
}

func stripComments(raw []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func decodeDoc(raw []byte, source string, index int) (doc, error) {
	fail := func(object, field, problem string) (doc, error) {
		return doc{}, &InputError{Source: source, Document: index, Object: object, Field: field, Problem: problem}
	}
	var tm typeMeta
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return fail("", "", fmt.Sprintf("not a Kubernetes object: %v", err))
	}
	if tm.Kind == "" {
		return fail("", "kind", "missing: every document needs apiVersion and kind (Node, Namespace, RuntimeClass or Pod)")
	}
	object := fmt.Sprintf("%s %q", tm.Kind, tm.Metadata.Name)
	if tm.Kind == "Pod" && tm.Metadata.Namespace != "" {
		object = fmt.Sprintf("%s %q", tm.Kind, tm.Metadata.Namespace+"/"+tm.Metadata.Name)
	}
	wantVersion, ok := supportedKinds[tm.Kind]
	if !ok {
		return fail(object, "kind", fmt.Sprintf("%q is not supported: simulate reads Node, Namespace, RuntimeClass and Pod (write a Deployment's pods out as Pods)", tm.Kind))
	}
	if tm.APIVersion != wantVersion {
		return fail(object, "apiVersion", fmt.Sprintf("%q is not supported for %s: use %q", tm.APIVersion, tm.Kind, wantVersion))
	}
	if tm.Metadata.Name == "" {
		return fail(object, "metadata.name", "missing")
	}
	var obj any
	switch tm.Kind {
	case "Node":
		obj = &v1.Node{}
	case "Namespace":
		obj = &v1.Namespace{}
	case "Pod":
		obj = &v1.Pod{}
	case "RuntimeClass":
		obj = &nodev1.RuntimeClass{}
	}
	if _, _, err := strictDecoder.Decode(raw, nil, obj.(runtime.Object)); err != nil {
		return fail(object, "", fmt.Sprintf("decoding: %v", err))
	}
	return doc{index: index, obj: obj, label: object}, nil
}

// collect sorts the objects into the scenario and checks what the API
// server cannot: references between objects and the fields the
// simulation needs.
func collect(sc *Scenario, docs []doc, source string) error {
	nodes, namespaces, runtimeClasses := map[string]bool{}, map[string]bool{}, map[string]bool{}
	pods := map[string]bool{}
	fail := func(d doc, field, problem string) error {
		return &InputError{Source: source, Document: d.index, Object: d.label, Field: field, Problem: problem}
	}
	// Namespaces, RuntimeClasses and Nodes first: pods refer to them
	// wherever they are in the file.
	for _, d := range docs {
		switch o := d.obj.(type) {
		case *v1.Namespace:
			if namespaces[o.Name] {
				return fail(d, "metadata.name", "defined twice")
			}
			namespaces[o.Name] = true
			if builtinNamespaces[o.Name] {
				return fail(d, "metadata.name", fmt.Sprintf("%q exists in every cluster: remove this document", o.Name))
			}
			sc.Namespaces = append(sc.Namespaces, o)
		case *nodev1.RuntimeClass:
			if runtimeClasses[o.Name] {
				return fail(d, "metadata.name", "defined twice")
			}
			runtimeClasses[o.Name] = true
			if o.Handler == "" {
				return fail(d, "handler", "missing: name the CRI handler, e.g. handler: kata-qemu")
			}
			sc.RuntimeClasses = append(sc.RuntimeClasses, o)
		case *v1.Node:
			if nodes[o.Name] {
				return fail(d, "metadata.name", "defined twice")
			}
			nodes[o.Name] = true
			for _, r := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
				_, inCap := o.Status.Capacity[r]
				_, inAlloc := o.Status.Allocatable[r]
				if !inCap && !inAlloc {
					return fail(d, "status.capacity."+string(r), "missing: give the node's size, e.g. status: {capacity: {cpu: \"8\", memory: 16Gi}}")
				}
			}
			sc.Nodes = append(sc.Nodes, o)
		}
	}
	if len(sc.Nodes) == 0 {
		return &InputError{Source: source, Document: 1, Problem: "no Node: add at least one Node for the pods to go to"}
	}
	for _, d := range docs {
		p, ok := d.obj.(*v1.Pod)
		if !ok {
			continue
		}
		if p.Namespace == "" {
			p.Namespace = metav1.NamespaceDefault
		}
		key := p.Namespace + "/" + p.Name
		if pods[key] {
			return fail(d, "metadata.name", "defined twice")
		}
		pods[key] = true
		if !namespaces[p.Namespace] && !builtinNamespaces[p.Namespace] {
			return fail(d, "metadata.namespace", fmt.Sprintf("namespace %q is not defined: add a Namespace document named %q (with its tenant and policy labels)", p.Namespace, p.Namespace))
		}
		if len(p.Spec.Containers) == 0 {
			return fail(d, "spec.containers", "missing: a pod needs at least one container (name, image and resources)")
		}
		for i, c := range p.Spec.Containers {
			if c.Name == "" {
				return fail(d, fmt.Sprintf("spec.containers[%d].name", i), "missing")
			}
			if c.Image == "" {
				p.Spec.Containers[i].Image = "registry.k8s.io/pause:3.10"
			}
		}
		if rc := p.Spec.RuntimeClassName; rc != nil && *rc != "" && !runtimeClasses[*rc] {
			return fail(d, "spec.runtimeClassName", fmt.Sprintf("RuntimeClass %q is not defined: add a RuntimeClass document named %q", *rc, *rc))
		}
		if p.Spec.NodeName != "" {
			if !nodes[p.Spec.NodeName] {
				return fail(d, "spec.nodeName", fmt.Sprintf("Node %q is not defined: add it, or remove spec.nodeName to have the pod scheduled", p.Spec.NodeName))
			}
			sc.ExistingPods = append(sc.ExistingPods, p)
			continue
		}
		sc.NewPods = append(sc.NewPods, p)
	}
	return nil
}
