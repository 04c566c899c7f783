// Command mtscn-scheduler is kube-scheduler with mtscn's multi-tenant
// sandbox plugins and the scheduler-plugins that a multi-tenant cluster uses
// (capacity quotas, gang scheduling, allocatable and NUMA-aware placement).
// Run it as a secondary scheduler (pods set schedulerName: mtscn-scheduler)
// with manifests/scheduler/scheduler-config.yaml.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // rest client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric

	"github.com/mtscn/mtscn/pkg/schedulercmd"
)

func main() {
	os.Exit(cli.Run(schedulercmd.NewCommand()))
}
