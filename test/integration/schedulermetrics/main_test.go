package schedulermetrics

import (
	"fmt"
	"os"
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

// schedulerBin is the binary under test, built once by TestMain into
// bin/.test/schedulermetrics.
var schedulerBin string

func TestMain(m *testing.M) {
	harness.SilenceKlog()
	var err error
	if schedulerBin, err = harness.BuildCommand("schedulermetrics", "mtscn-scheduler"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
