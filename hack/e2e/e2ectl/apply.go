package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mtscn/mtscn/test/integration/manifests"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// runApply server-side applies kustomizations (-k, rendered as
// `kubectl apply -k` does) and YAML files (-f), strictly validated, in
// dependency order (test/integration/manifests.Applier).
func runApply(ctx context.Context, fs *flag.FlagSet, args []string) error {
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	var dirs, files listFlag
	fs.Var(&dirs, "k", "kustomization directory (repeatable)")
	fs.Var(&files, "f", "multi-document YAML file (repeatable)")
	skip := fs.String("skip-kinds", "", "comma-separated kinds not to apply (e.g. the workloads make e2e runs as processes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("-kubeconfig: %w", err)
	}
	// client-go's default 5 requests/s would spend ~10s of every make e2e
	// waiting between the ~60 objects on a private API server.
	cfg.QPS, cfg.Burst = 100, 200
	var objs []*unstructured.Unstructured
	for _, d := range dirs {
		o, err := manifests.Render(d)
		if err != nil {
			return err
		}
		objs = append(objs, o...)
	}
	for _, f := range files {
		o, err := readObjects(f)
		if err != nil {
			return err
		}
		objs = append(objs, o...)
	}
	skipped := map[string]bool{}
	for _, k := range strings.Split(*skip, ",") {
		skipped[k] = true
	}
	kept := objs[:0]
	for _, o := range objs {
		if !skipped[o.GetKind()] {
			kept = append(kept, o)
		}
	}
	objs = kept
	a, err := manifests.NewApplier(cfg)
	if err != nil {
		return err
	}
	if err := a.Apply(ctx, objs, false); err != nil {
		return err
	}
	fmt.Printf("applied %d objects\n", len(objs))
	return nil
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}
