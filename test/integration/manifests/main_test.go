package manifests

import (
	"testing"

	"github.com/mtscn/mtscn/test/integration/harness"
)

func TestMain(m *testing.M) {
	harness.Main(m)
}
