package quality

import (
	"testing"
	"time"

	"k8s.io/kubernetes/test/utils/ktesting"

	"github.com/mtscn/mtscn/bench/workload"
)

// TestTimeoutAuditsAsItStands gives the anti-affinity profile far too
// little time: Run must still audit the placement and say it had not
// settled, not fail.
func TestTimeoutAuditsAsItStands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	_, ctx := ktesting.NewTestContext(t)
	results, err := Run(ctx, Options{
		Size:            workload.Size{Name: "timeout", Nodes: 20, Pods: 100},
		Profiles:        []string{workload.ProfileAntiAffinity},
		RuntimeClasses:  runtimeClasses(t),
		SchedulerConfig: shippedConfig,
		Timeout:         time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := results[0]
	if r.Settled || r.Placed+r.Pending+r.Untried != 100 {
		t.Errorf("settled %v, placed %d + pending %d + untried %d, want an unsettled audit of 100 pods", r.Settled, r.Placed, r.Pending, r.Untried)
	}
}
