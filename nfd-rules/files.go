package nfdrules

import (
	"os"
	"path/filepath"
	"runtime"
)

// Files are the NodeFeatureRule manifests of this directory, in the order
// kustomization.yaml lists them.
var Files = []string{"kvm.yaml", "devices.yaml", "cotenancy.yaml", "runtimes.yaml"}

// Dir returns the directory holding the rule files, for tests elsewhere in
// the module that apply them to an apiserver.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		wd, _ := os.Getwd()
		return wd
	}
	return filepath.Dir(file)
}

// Paths returns the absolute paths of Files.
func Paths() []string {
	dir := Dir()
	out := make([]string, 0, len(Files))
	for _, f := range Files {
		out = append(out, filepath.Join(dir, f))
	}
	return out
}
