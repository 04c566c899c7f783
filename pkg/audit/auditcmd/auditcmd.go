package auditcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Report is the -o json document.
type Report struct {
	// Policy is what was checked and where it came from.
	Policy         *audit.Policy `json:"policy"`
	Nodes          int           `json:"nodes"`
	Pods           int           `json:"pods"`
	Namespaces     int           `json:"namespaces"`
	RuntimeClasses int           `json:"runtimeClasses"`
	// Usage is what each node's pods commit and, per runtime handler, its
	// modelled against observed sandbox overhead (when the profile runs
	// SandboxOverhead).
	Usage      []audit.NodeUsage `json:"usage,omitempty"`
	Violations []audit.Violation `json:"violations"`
}

// NewCommand returns the audit command. It fails (exit 1 under
// component-base's cli.Run) when it finds a violation.
func NewCommand() *cobra.Command {
	var cfgPath, profile, output string
	var kube *kubeFlags
	var watch *watchFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check a live cluster against the isolation invariant (I1-I4) and the VM limits (F1-F3)",
		Long: `audit lists the cluster's nodes, pods, namespaces and runtime classes and
reports every violation of the rules mtscn-scheduler enforces
(docs/design.md): I1 shared-kernel pods alone with their tenant, I2 exclusive
tenants alone, I3 sandbox=required tenants sandboxed, I4 no tenants sharing a
cotenancy-unsafe node, and F1 committed memory (Kata VM footprints included)
within allocatable memory, F2 /dev/shm-backed guests within
` + wellknown.ResourceSandboxMemory + `, F3 VMs within ` + wellknown.ResourceSandboxes + `.

It classifies and sizes pods with the args of the scheduler's own
configuration (--scheduler-config, the file mtscn-scheduler runs with, and
--profile, one of its profiles), decoded and validated as the scheduler
does; without --scheduler-config it uses the plugins' defaults, which the
shipped manifests/scheduler/scheduler-config.yaml spells out. The first line
of the report says which configuration and profile it used.

Pods bound by any scheduler count. It exits 1 when it finds anything, so it
can run in CI or as a CronJob.

With --watch it keeps running (until SIGINT or SIGTERM): it watches the
four kinds of objects, audits again after every change (at most every
--interval), prints the report whenever the violations change, and with
--metrics-addr serves the violations by rule on /metrics as the gauge
mtscn_audit_violations{rule="I1".."F3"} (0 while a rule holds), for
Prometheus to alert on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			if err := watch.validate(); err != nil {
				return err
			}
			policy, err := loadPolicy(cfgPath, profile)
			if err != nil {
				return err
			}
			restCfg, err := kube.restConfig()
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(restCfg)
			if err != nil {
				return fmt.Errorf("creating client: %w", err)
			}
			if watch.watch {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return newWatcher(client, policy, watch.interval, output, cmd.OutOrStdout()).Run(ctx, watch.metricsAddr)
			}
			snap, err := audit.ReadSnapshot(cmd.Context(), client)
			if err != nil {
				return err
			}
			report, err := auditSnapshot(*snap, policy)
			if err != nil {
				return err
			}
			if err := Write(cmd.OutOrStdout(), output, report); err != nil {
				return err
			}
			if n := len(report.Violations); n > 0 {
				return fmt.Errorf("%d violation(s) found", n)
			}
			return nil
		},
	}
	kube = addKubeFlags(cmd.Flags())
	watch = addWatchFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().StringVar(&cfgPath, "scheduler-config", "",
		"the KubeSchedulerConfiguration file mtscn-scheduler runs with (its --config): audit applies its TenantIsolation and SandboxOverhead args (default: the plugins' default args)")
	cmd.Flags().StringVar(&profile, "profile", "",
		"the profile (schedulerName) of --scheduler-config to audit (default: the only profile that enables TenantIsolation)")
	return cmd
}

// auditSnapshot checks snap against policy and, when the policy has the
// VM limits, adds what each node commits.
func auditSnapshot(snap audit.Snapshot, policy *audit.Policy) (Report, error) {
	violations, err := audit.Audit(snap, policy)
	if err != nil {
		return Report{}, err
	}
	report := Report{
		Policy: policy,
		Nodes:  len(snap.Nodes), Pods: len(snap.Pods), Namespaces: len(snap.Namespaces), RuntimeClasses: len(snap.RuntimeClasses),
		Violations: violations,
	}
	if policy.Resources != nil {
		if report.Usage, err = audit.Usage(snap, *policy.Resources); err != nil {
			return Report{}, err
		}
	}
	return report, nil
}

func loadPolicy(cfgPath, profile string) (*audit.Policy, error) {
	if cfgPath == "" {
		p, err := audit.DefaultPolicy()
		if err != nil {
			return nil, err
		}
		if profile != "" && profile != p.Profile {
			return nil, fmt.Errorf("--profile %q needs --scheduler-config: the built-in defaults have one profile, %q", profile, p.Profile)
		}
		return p, nil
	}
	return audit.LoadPolicy(cfgPath, profile)
}

// Write prints the report as a table (the policy line, counts, the
// violations) or as JSON.
func Write(w io.Writer, format string, r Report) error {
	if format == "json" {
		if r.Violations == nil {
			r.Violations = []audit.Violation{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if _, err := fmt.Fprintf(w, "policy: %s\naudited %d nodes, %d pods, %d namespaces, %d runtime classes\n",
		r.Policy, r.Nodes, r.Pods, r.Namespaces, r.RuntimeClasses); err != nil {
		return err
	}
	if len(r.Usage) > 0 {
		if err := audit.WriteUsage(w, r.Usage); err != nil {
			return err
		}
	}
	return audit.WriteViolations(w, r.Violations)
}
