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
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// vocabularyExceptions are the literals outside pkg/wellknown that look like
// vocabulary but are not, each with the reason.
var vocabularyExceptions = map[string]string{
	"mtscn.io/mtscn-node":   "the reportingController of the node agent's Events (pkg/node/install), a controller name, not a label",
	"mtscn.io/gvisor-build": "the Go module the Dockerfile's gVisor stage builds in, not a label",
}

// TestVocabularyDefinedOnce checks that every key of the vocabulary (label,
// taint, extended resource, annotation and node-feature names, and the
// prefixes and suffixes they are built from) is spelled only in
// pkg/wellknown: no string literal in the repository's non-test,
// non-generated Go code elsewhere equals one or is built on one
// (vocabularyMatch). A retyped key is a copy that can drift from the one its
// readers or writers use. Prose that names keys for the user (help texts,
// messages) is checked against the vocabulary instead: it may name only
// keys that exist. Values (true, shared, kata, ...) are ordinary words and
// are not checked. Embedded YAML or CEL in Go code would be prose to this
// check; there is none (the manifests are YAML files, checked by
// test/integration/manifests).
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

// TestVocabularyNamesInTexts checks the files that are not Go (manifests,
// NodeFeatureRules, docs, READMEs, scripts, the Dockerfile): every name
// under mtscn.io/ they write must be one pkg/wellknown defines (knownName),
// so that the YAML and CEL the API server runs and the docs that explain
// the labels cannot name a key the code does not know.
func TestVocabularyNamesInTexts(t *testing.T) {
	keys := vocabularyKeys(t)
	for _, f := range repoFiles(t) {
		if strings.HasSuffix(f, ".go") || inDir(f, "hack/repocheck") || inDir(f, "bench/results") {
			continue
		}
		for i, line := range textLines(t, f) {
			for _, name := range proseNames(line) {
				if !knownName(keys, name) {
					t.Errorf("%s:%d: %s is not a key of pkg/wellknown (docs/labels.md lists them)", f, i+1, name)
				}
			}
		}
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
// feature in the mtscn domain such as "@mtscn.capacity.sandboxes"). Keys
// without a "/" or "." are checked only as prefixes: FeatureDomain "mtscn"
// is also the project's name.
//
// Prose (a literal with white space: help texts, messages) may name keys
// for its reader, but only keys the vocabulary defines (proseNames), so
// that renaming one in pkg/wellknown fails here until the text follows.
func vocabularyMatch(keys []vocabularyKey, s string) (string, bool) {
	if strings.ContainsAny(s, " \t\n") {
		for _, name := range proseNames(s) {
			if !knownName(keys, name) {
				return fmt.Sprintf("prose naming %s, which pkg/wellknown does not define", name), true
			}
		}
		return "", false
	}
	if strings.HasPrefix(s, signKeyPrefix) {
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

// proseNameRE matches a name under mtscn's label prefix in prose, with
// placeholders (mtscn.io/runtime.<handler>) and wildcards (mtscn.io/*).
var proseNameRE = regexp.MustCompile(`(?:^|[^\w.-])(mtscn\.io/[\w.<>*-]*[\w>*]|mtscn\.io/)`)

// proseNames returns the vocabulary names that the text s names.
func proseNames(s string) []string {
	var out []string
	for _, m := range proseNameRE.FindAllStringSubmatch(s, -1) {
		if _, ok := vocabularyExceptions[m[1]]; !ok && !strings.HasPrefix(m[1], signKeyPrefix) {
			out = append(out, m[1])
		}
	}
	return out
}

// knownName reports whether name, as prose writes it, is a key of the
// vocabulary: one exactly, or a prefix key followed by a handler, a
// placeholder or a wildcard, and then nothing or a suffix key
// (mtscn.io/kata.<handler>.sizing, mtscn.io/runtime.kata-qemu).
func knownName(keys []vocabularyKey, name string) bool {
	is := func(v string) bool {
		for _, k := range keys {
			if k.value == v {
				return true
			}
		}
		return false
	}
	if is(name) || is(name+".") { // "mtscn.io/runtime." ends a sentence or a CEL prefix
		return true
	}
	i := strings.IndexAny(name, "<*")
	if i < 0 {
		// A per-handler name: a prefix key ending in "." (not the bare
		// mtscn.io/ prefix), a handler, and possibly a suffix key
		// (mtscn.io/runtime.kata-qemu, mtscn.io/kata.kata-qemu.sizing).
		for _, p := range keys {
			if !strings.HasSuffix(p.value, ".") || !strings.HasPrefix(name, p.value) {
				continue
			}
			rest := name[len(p.value):]
			for _, sfx := range keys {
				if strings.HasPrefix(sfx.value, ".") && strings.HasSuffix(rest, sfx.value) {
					rest = strings.TrimSuffix(rest, sfx.value)
					break
				}
			}
			if rest != "" && !strings.Contains(rest, ".") {
				return true
			}
		}
		return false
	}
	rest := name[i:]
	if rest[0] == '<' {
		j := strings.IndexByte(rest, '>')
		if j < 0 {
			return false
		}
		rest = rest[j+1:]
	} else {
		rest = rest[1:]
	}
	return is(name[:i]) && (rest == "" || rest == ".*" || is(rest))
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
		wellknown.LabelTenant:                           true,
		wellknown.LabelPrefix:                           true,
		wellknown.LabelTDX:                              true,
		wellknown.FeatureKVM:                            true,
		wellknown.LabelSuffixDefaultMemory:              true,
		wellknown.RuntimeLabel("kata-qemu"):             true,
		"@" + wellknown.FeatureCapacity + ".x":          true,
		wellknown.FeatureDomain + ".sandbox_foo":        true,
		"mtscn.io/tenant=a":                             true,
		"bench.mtscn.io/pool":                           false, // another domain
		"mtscn.io/v1.Pod.Namespace":                     false, // a sign fragment key
		"list a tenant label, e.g. mtscn.io/tenant":     false, // prose naming a key
		"labels mtscn.io/runtime.<handler>=true":        false,
		"mtscn.io/kata.<handler>.sizing and mtscn.io/*": false,
		"list a tenant label, e.g. mtscn.io/tennant":    true, // a key the vocabulary lacks
		"the mtscn.io/kata.<handler>.size label":        true,
		"labels mtscn.io/runtime.kata-qemu=true":        false,
		"mtscn.io/kata.kata-qemu.default-memory: 2048":  false,
		"mtscn.io/kata.kata-qemu.memory: 2048":          true,
		"mtscn.io/mtscn-node":                           false, // listed exception
		wellknown.FeatureDomain:                         false, // the project's name
		wellknown.ValueTrue:                             false, // a value
	} {
		if _, got := vocabularyMatch(keys, s); got != want {
			t.Errorf("vocabularyMatch(%q) = %v, want %v", s, got, want)
		}
	}
}
