package sandboxoverhead

import (
	"os"
	"testing"

	"k8s.io/kubernetes/pkg/scheduler/metrics"
)

// TestMain registers the scheduler's metrics, as kube-scheduler does at
// start: the parallelizer PreFilter uses on large clusters records to them.
func TestMain(m *testing.M) {
	metrics.Register()
	os.Exit(m.Run())
}
