package manifests

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// chartDir is the Helm chart of mtscn (manifests/charts/mtscn).
func chartDir() string {
	return filepath.Join(harness.RepoRoot(), "manifests", "charts", "mtscn")
}

// RenderChart renders the chart in dir with values over its values.yaml
// the way `helm template` (and `helm install`) does: the values are checked
// against values.schema.json, the templates run with Helm's engine (no
// cluster lookups), and NOTES.txt and partials are dropped. It returns the
// objects of every template, sorted by template name and then in order.
func RenderChart(dir string, values map[string]any) ([]*unstructured.Unstructured, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	if err := chrt.Validate(); err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	vals, err := chartutil.ToRenderValues(chrt, values, chartutil.ReleaseOptions{Name: "mtscn", Namespace: "default", IsInstall: true, Revision: 1}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	rendered, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering chart %s: %w", dir, err)
	}
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(filepath.Base(name), "_") {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		for _, doc := range harness.SplitYAML([]byte(rendered[name])) {
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err != nil {
				return nil, fmt.Errorf("chart %s: template %s renders invalid YAML: %w", dir, name, err)
			}
			if len(m) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: m}
			if obj.GetKind() == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
				return nil, fmt.Errorf("chart %s: template %s renders an object without kind, apiVersion or name:\n%s", dir, name, doc)
			}
			objs = append(objs, obj)
		}
	}
	return objs, nil
}
