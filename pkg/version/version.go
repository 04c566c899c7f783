package version

import (
	"fmt"
	"runtime"
)

// Set at build time with -ldflags "-X github.com/mtscn/mtscn/pkg/version.Version=...".
var (
	// Version is the mtscn release or `git describe` output.
	Version = "v0.0.0-dev"
	// GitCommit is the commit the binary was built from.
	GitCommit = "unknown"
)

// String returns a one-line description of the build.
func String() string {
	return fmt.Sprintf("%s (commit %s, %s, %s/%s)", Version, GitCommit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
