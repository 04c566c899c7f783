package repocheck

import (
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// outsideDocs are the documents of the session that wrote mtscn, which are
// not in the repository: nothing may cite them (docs/ holds the project's
// own).
var outsideDocs = []string{"DESIGN.md", "FACTS.md", "STYLE.md"}

// notRefs are names that look like repository paths but name what the
// code writes, not a file of the repository.
var notRefs = map[string]string{
	"latency.md":               "the latency table bench/cmd/benchreport writes",
	"bench/results/perf-small": "scheduler_perf's data items, written by make bench (not committed)",
	"bench/results/perf-full":  "scheduler_perf's data items, written by make bench-full (not committed)",
}

// upstreamCitations are bare paths in Go comments that name a file of
// another project (usually written joined to its module path instead,
// k8s.io/kubernetes/pkg/scheduler/...), keyed by file and path.
var upstreamCitations = map[string]string{}

var (
	// urlRE matches URLs and Markdown links to URLs with their text.
	urlRE = regexp.MustCompile(`(?i)\[[^\]]*\]\([a-z][a-z0-9+.-]*://[^)]*\)|\b[a-z][a-z0-9+.-]*://\S+`)
	// mdNameRE matches a Markdown file name (docs/design.md, ../README.md).
	mdNameRE = regexp.MustCompile(`(?:\.\.?/)*[\w-][\w./-]*\.md\b`)
	// mdLinkRE matches the target of a Markdown link, inline or reference
	// style.
	mdLinkRE = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)|^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?(?:\s+["'(].*)?$`)
	// repoPathRE matches a path into the repository's top-level
	// directories.
	repoPathRE = regexp.MustCompile(`(?:cmd|pkg|manifests|nfd-rules|bench|hack|test|docs|\.ci)/[\w.*/<>{}$-]*`)
)

// TestDocReferences checks that a reader who follows a reference finds its
// target in the repository:
//   - no file names DESIGN.md, FACTS.md or STYLE.md (outsideDocs);
//   - every Markdown file named anywhere (code, comments, help texts,
//     manifests, scripts, Makefiles) exists, relative to the naming file
//     or to the repository root;
//   - every relative Markdown link resolves relative to its file;
//   - every path into the repository (cmd/, pkg/, docs/, ...) in a Go
//     comment or string, and in any other file, exists (as a file or
//     directory; pkg/audit.Check names a package's identifier). Upstream
//     files are cited joined to their module or repository
//     (k8s.io/kubernetes/pkg/scheduler/...) or by URL, and are not checked.
//
// Names built at run time (with $, *, <...> or {...}) are skipped.
func TestDocReferences(t *testing.T) {
	var found []string
	seen := map[string]bool{} // file:line: name, reported once
	report := func(file string, line int, name, format string, args ...any) {
		at := fmt.Sprintf("%s:%d: ", file, line)
		if !seen[at+path.Base(name)] {
			seen[at+path.Base(name)] = true
			found = append(found, at+fmt.Sprintf(format, args...))
		}
	}
	for _, f := range repoFiles(t) {
		if inDir(f, "bench/results") || inDir(f, "hack/repocheck") {
			continue
		}
		for i, text := range textLines(t, f) {
			for _, doc := range outsideDocs {
				if strings.Contains(text, doc) {
					report(f, i+1, doc, "%s is not in the repository: cite docs/ instead (docs/README.md)", doc)
				}
			}
			if strings.HasSuffix(f, ".md") {
				for _, m := range mdLinkRE.FindAllStringSubmatch(text, -1) {
					target := m[1] + m[2]
					if bad := checkLink(f, target); bad != "" {
						report(f, i+1, target, "link %s: %s", target, bad)
					}
				}
			}
			if !strings.HasSuffix(f, ".go") {
				for _, p := range repoPaths(text) {
					if !repoPathExists(p) && !exists(path.Join(path.Dir(f), p)) {
						report(f, i+1, p, "%s does not exist in the repository (an upstream file is cited with its module path or URL)", p)
					}
				}
			}
			text = urlRE.ReplaceAllString(text, "")
			for _, loc := range mdNameRE.FindAllStringIndex(text, -1) {
				name := text[loc[0]:loc[1]]
				if loc[0] > 0 && strings.ContainsAny(text[loc[0]-1:loc[0]], `/.$}>*~%`) {
					continue // a longer or built name
				}
				if _, ok := notRefs[name]; ok {
					continue
				}
				isLink := loc[0] >= 2 && text[loc[0]-2:loc[0]] == "]("
				if !exists(path.Join(path.Dir(f), name)) && (isLink || !exists(name)) {
					report(f, i+1, name, "%s does not exist in the repository", name)
				}
			}
		}
	}
	for _, f := range goFiles(t, false) {
		if inDir(f.path, "hack/repocheck") {
			continue
		}
		check := func(pos token.Pos, text string) {
			for _, p := range repoPaths(text) {
				if _, ok := upstreamCitations[f.path+": "+p]; ok {
					continue
				}
				if !repoPathExists(p) {
					report(f.path, f.line(pos), p, "%s does not exist in the repository (an upstream file is cited with its module path or URL)", p)
				}
			}
		}
		for _, cg := range f.file.Comments {
			for _, c := range cg.List {
				check(c.Pos(), c.Text)
			}
		}
		ast.Inspect(f.file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					check(lit.Pos(), s)
				}
			}
			return true
		})
	}
	for _, f := range found {
		t.Error(f)
	}
	if len(found) > 0 {
		t.Log("point these references at a file in the repository (docs/README.md lists the documents)")
	}
}

// repoPaths returns the repository paths that text names, without the
// ones built at run time and without trailing punctuation.
func repoPaths(text string) []string {
	text = urlRE.ReplaceAllString(text, "")
	var out []string
	for _, loc := range repoPathRE.FindAllStringIndex(text, -1) {
		if loc[0] > 0 && strings.ContainsAny(text[loc[0]-1:loc[0]], `abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./$-`) {
			continue // part of a longer path: a module path or an absolute one
		}
		p := strings.TrimRight(text[loc[0]:loc[1]], ".-")
		if strings.ContainsAny(p, "*<>{}$") {
			continue
		}
		if _, ok := notRefs[p]; ok {
			continue
		}
		out = append(out, p)
	}
	return out
}

// repoPathExists reports whether p is a file or directory of the
// repository, or names an identifier of one of its packages
// (pkg/audit.Check).
func repoPathExists(p string) bool {
	p = strings.TrimSuffix(p, "/")
	if exists(p) {
		return true
	}
	if i := strings.LastIndex(p, "."); i > strings.LastIndex(p, "/") {
		if fi, err := os.Stat(filepath.Join(repoRoot, p[:i])); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// checkLink returns why a Markdown link target of file f does not resolve,
// or "" when it does or is not a repository path.
func checkLink(f, target string) string {
	if strings.HasPrefix(target, "#") || regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(target) {
		return ""
	}
	target, _, _ = strings.Cut(target, "#")
	target, _, _ = strings.Cut(target, "?")
	if target == "" || strings.HasPrefix(target, "/") {
		return "not a relative path into the repository"
	}
	if !exists(path.Join(path.Dir(f), target)) {
		return "no such file relative to " + path.Dir(f) + "/"
	}
	return ""
}

// exists reports whether the repository path p exists.
func exists(p string) bool {
	_, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(p)))
	return err == nil
}
