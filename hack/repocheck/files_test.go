package repocheck

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	listOnce sync.Once
	listed   []string
	listErr  error
)

// repoRoot is the repository's top directory.
const repoRoot = "../.."

// repoFiles returns the repository's files relative to its root, as git
// sees them: tracked ones and new ones that .gitignore does not exclude,
// without vendor/ and testdata/ trees.
func repoFiles(t *testing.T) []string {
	t.Helper()
	listOnce.Do(func() {
		git, err := exec.LookPath("git")
		if err != nil {
			listErr = err
			return
		}
		cmd := exec.Command(git, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
		cmd.Dir = repoRoot
		out, err := cmd.Output()
		if err != nil {
			listErr = err
			return
		}
		for _, f := range strings.Split(string(out), "\x00") {
			if f == "" || strings.HasPrefix(f, "vendor/") || strings.Contains(f, "/testdata/") {
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
				continue // deleted in the working tree
			}
			listed = append(listed, f)
		}
	})
	if listErr != nil {
		t.Fatalf("listing the repository's files with git ls-files: %v", listErr)
	}
	return listed
}

// goFile is one parsed Go source file.
type goFile struct {
	path string // relative to the repository root
	fset *token.FileSet
	file *ast.File
}

// goFiles parses the repository's Go files with comments; with code set,
// only non-test, non-generated ones.
func goFiles(t *testing.T, code bool) []goFile {
	t.Helper()
	var out []goFile
	fset := token.NewFileSet()
	for _, f := range repoFiles(t) {
		if !strings.HasSuffix(f, ".go") || (code && strings.HasSuffix(f, "_test.go")) {
			continue
		}
		parsed, err := parser.ParseFile(fset, filepath.Join(repoRoot, f), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", f, err)
		}
		if code && ast.IsGenerated(parsed) {
			continue
		}
		out = append(out, goFile{path: f, fset: fset, file: parsed})
	}
	return out
}

// line is the line of pos in f.
func (f goFile) line(pos token.Pos) int { return f.fset.Position(pos).Line }

// inDir reports whether the repository path f is in dir or below it.
func inDir(f, dir string) bool { return strings.HasPrefix(f, dir+"/") }

// textLines returns the lines of the repository file f, or none when it is
// binary (a NUL byte in its first 8000 bytes, as git decides).
func textLines(t *testing.T, f string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, f))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
		return nil
	}
	return strings.Split(string(data), "\n")
}
