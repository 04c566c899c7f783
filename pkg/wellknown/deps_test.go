package wellknown_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestStdlibOnly keeps the vocabulary importable by every binary: it may
// import the standard library only.
func TestStdlibOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			t.Errorf("pkg/wellknown imports %s; it must import the standard library only", imp)
		}
	}
}
