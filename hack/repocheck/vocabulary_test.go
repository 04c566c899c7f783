package repocheck

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// vocabularyExceptions are the literals outside pkg/wellknown that look like
// vocabulary but are not, each with the reason.
var vocabularyExceptions = map[string]string{
	"mtscn.io/mtscn-node": "the reportingController of the node agent's Events (pkg/node/install), a controller name, not a label",
}

// TestVocabularyDefinedOnce checks that every key of the vocabulary (label,
// taint, extended resource, annotation and node-feature names, and the
// prefixes and suffixes they are built from) is spelled only here: no string
// literal in the repository's non-test, non-generated Go code outside
// pkg/wellknown equals one or is built on one (vocabularyMatch). A retyped
// key is a copy that can drift from the one its readers or writers use.
// Values (true, shared, kata, ...) are ordinary words and are not checked.
func TestVocabularyDefinedOnce(t *testing.T) {
	keys := vocabularyKeys(t)
	var found []string
	for _, f := range goFiles(t, true) {
		if inDir(f.path, "pkg/wellknown") {
			continue
		}
		ast.Inspect(f.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ImportSpec:
				return false
			case *ast.Field:
				// Struct tags are not values; the field's type and names are
				// not literals either.
				return false
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err != nil {
					return true
				}
				if name, bad := vocabularyMatch(keys, s); bad {
					found = append(found, fmt.Sprintf("%s:%d: %q is %s", f.path, f.line(n.Pos()), s, name))
				}
			}
			return true
		})
	}
	for _, f := range found {
		t.Error(f)
	}
	if len(found) > 0 {
		t.Logf("use the pkg/wellknown constants instead (docs/contributing.md), or list a literal that is not vocabulary in vocabularyExceptions with the reason")
	}
}

// signKeyPrefix starts the plugins' sign fragment keys
// (mtscn.io/v1.Pod.Namespace, ...): each plugin defines its own, by the
// convention of docs/contributing.md; they are not vocabulary.
const signKeyPrefix = "mtscn.io/v1."

// vocabularyKey is one checked string of the vocabulary.
type vocabularyKey struct {
	name, value string
}

// vocabularyKeys returns the package's string constants that name a label,
// taint, extended resource, annotation or node feature, or a prefix or
// suffix of one, by type-checking the package's source.
func vocabularyKeys(t *testing.T) []vocabularyKey {
	t.Helper()
	fset := token.NewFileSet()
	dir := filepath.Join(repoRoot, "pkg", "wellknown")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	pkg, err := conf.Check("github.com/mtscn/mtscn/pkg/wellknown", fset, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []vocabularyKey
	for _, name := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || !c.Exported() || c.Val().Kind() != constant.String {
			continue
		}
		for _, kind := range []string{"Label", "Taint", "Resource", "Annotation", "Feature"} {
			if strings.HasPrefix(name, kind) {
				keys = append(keys, vocabularyKey{name, constant.StringVal(c.Val())})
				break
			}
		}
	}
	if len(keys) < 20 {
		t.Fatalf("found only %d vocabulary keys in pkg/wellknown: %v", len(keys), keys)
	}
	return keys
}

// vocabularyMatch reports the constant that the literal s retypes: equal to
// a key, or a name built on one (a label under the mtscn.io/ prefix, a
// feature in the mtscn domain such as "@mtscn.capacity.sandboxes"). Prose
// (a literal with white space, such as a help text that names a label)
// defines nothing and is not checked. Keys without a "/" or "." are checked
// only as prefixes: FeatureDomain "mtscn" is also the project's name.
func vocabularyMatch(keys []vocabularyKey, s string) (string, bool) {
	if strings.ContainsAny(s, " \t\n") || strings.HasPrefix(s, signKeyPrefix) {
		return "", false
	}
	if _, ok := vocabularyExceptions[s]; ok {
		return "", false
	}
	for _, k := range keys {
		if strings.ContainsAny(k.value, "/.") && s == k.value {
			return "wellknown." + k.name, true
		}
	}
	for _, k := range keys {
		if strings.ContainsAny(k.value, "/.") && len(k.value) >= 6 && containsName(s, k.value) {
			return "built on wellknown." + k.name, true
		}
	}
	if strings.HasPrefix(s, wellknown.FeatureDomain+".") && !strings.HasPrefix(s, strings.TrimSuffix(wellknown.LabelPrefix, "/")) {
		return "built on wellknown.FeatureDomain", true
	}
	return "", false
}

// containsName reports whether name occurs in s not as the end of a longer
// DNS name (bench.mtscn.io/pool is another domain than mtscn.io/).
func containsName(s, name string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], name)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789.-", rune(s[at-1])) {
			return true
		}
		i = at + 1
	}
}

// TestVocabularyMatch pins what the check above reports and what it lets
// through.
func TestVocabularyMatch(t *testing.T) {
	keys := vocabularyKeys(t)
	for s, want := range map[string]bool{
		wellknown.LabelTenant:                       true,
		wellknown.LabelPrefix:                       true,
		wellknown.LabelTDX:                          true,
		wellknown.FeatureKVM:                        true,
		wellknown.LabelSuffixDefaultMemory:          true,
		wellknown.RuntimeLabel("kata-qemu"):         true,
		"@" + wellknown.FeatureCapacity + ".x":      true,
		wellknown.FeatureDomain + ".sandbox_foo":    true,
		"mtscn.io/tenant=a":                         true,
		"bench.mtscn.io/pool":                       false, // another domain
		"mtscn.io/v1.Pod.Namespace":                 false, // a sign fragment key
		"list a tenant label, e.g. mtscn.io/tenant": false, // prose
		"mtscn.io/mtscn-node":                       false, // listed exception
		wellknown.FeatureDomain:                     false, // the project's name
		wellknown.ValueTrue:                         false, // a value
	} {
		if _, got := vocabularyMatch(keys, s); got != want {
			t.Errorf("vocabularyMatch(%q) = %v, want %v", s, got, want)
		}
	}
}
