//go:build tools

// Package tools pins gVisor's runsc in this module: hack/e2e/build.sh
// builds gvisor.dev/gvisor/runsc from here, at the version go.mod requires.
package tools

import (
	_ "gvisor.dev/gvisor/runsc"
)
