package repocheck

import (
	"fmt"
	"go/ast"
	"strconv"
	"testing"
)

const tenancyPath = "github.com/mtscn/mtscn/pkg/tenancy"

// TestNoClassificationFallbackOutsideTenancy keeps the answer to "what is a
// pod whose Namespace or RuntimeClass is missing?" in pkg/tenancy
// (Classify for the pod being placed, ClassifyBound for pods already on a
// node). Outside it, non-test code may not
//   - drop the error of a classifier's Classify, Namespace or Runtime
//     (x, _ := c.Runtime(...)): the zero or partial result is a silent
//     fallback; call ClassifyBound, BoundNamespace or BoundRuntime instead;
//   - build a tenancy.Runtime or tenancy.NamespacePolicy with fields set: a
//     classification made up by hand;
//   - call tenancy.NamespaceTenant, the tenant of a missing Namespace.
func TestNoClassificationFallbackOutsideTenancy(t *testing.T) {
	var found []string
	for _, f := range goFiles(t, true) {
		if inDir(f.path, "pkg/tenancy") {
			continue
		}
		tenancy := ""
		for _, imp := range f.file.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == tenancyPath {
				tenancy = "tenancy"
				if imp.Name != nil {
					tenancy = imp.Name.Name
				}
			}
		}
		report := func(n ast.Node, format string, args ...any) {
			found = append(found, fmt.Sprintf("%s:%d: ", f.path, f.line(n.Pos()))+fmt.Sprintf(format, args...))
		}
		ast.Inspect(f.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				if len(n.Lhs) == 2 && len(n.Rhs) == 1 && isBlank(n.Lhs[1]) {
					if m := classifyCall(n.Rhs[0]); m != "" {
						report(n, "the error of %s is dropped: use the Bound variant or handle it", m)
					}
				}
			case *ast.ValueSpec:
				if len(n.Names) == 2 && len(n.Values) == 1 && n.Names[1].Name == "_" {
					if m := classifyCall(n.Values[0]); m != "" {
						report(n, "the error of %s is dropped: use the Bound variant or handle it", m)
					}
				}
			case *ast.CompositeLit:
				if tenancy != "" && len(n.Elts) > 0 && (isSelector(n.Type, tenancy, "Runtime") || isSelector(n.Type, tenancy, "NamespacePolicy")) {
					report(n, "a classification built by hand: get it from a tenancy.Classifier")
				}
			case *ast.CallExpr:
				if tenancy != "" && isSelector(n.Fun, tenancy, "NamespaceTenant") {
					report(n, "tenancy.NamespaceTenant outside pkg/tenancy: use BoundNamespace")
				}
			}
			return true
		})
	}
	for _, f := range found {
		t.Error(f)
	}
}

// classifyCall returns the method name when e calls Classify, Namespace or
// Runtime on some receiver.
func classifyCall(e ast.Expr) string {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	switch sel.Sel.Name {
	case "Classify", "Namespace", "Runtime":
		return sel.Sel.Name
	}
	return ""
}

func isBlank(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "_"
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg && sel.Sel.Name == name
}
