package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/mtscn/mtscn/pkg/audit"
	"github.com/mtscn/mtscn/pkg/devcluster"
	"github.com/mtscn/mtscn/pkg/simulate"
)

func init() { subcommands = append(subcommands, newAuditCommand) }

// auditReport is the -o json document.
type auditReport struct {
	Nodes          int               `json:"nodes"`
	Pods           int               `json:"pods"`
	Namespaces     int               `json:"namespaces"`
	RuntimeClasses int               `json:"runtimeClasses"`
	Violations     []audit.Violation `json:"violations"`
}

func newAuditCommand() *cobra.Command {
	var kubeconfig, cfgPath, output, logFile string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check a live cluster against the isolation invariant (I1-I4) and VM memory overcommit",
		Long: `audit lists the cluster's nodes, pods, namespaces and runtime classes and
reports every violation of the isolation invariant (I1 shared-kernel pods
alone with their tenant, I2 exclusive tenants alone, I3 sandbox=required
tenants sandboxed, I4 no tenants sharing a cotenancy-unsafe node; see
docs/design.md in the mtscn repository) and every node whose pods commit
more memory (Kata VM footprints included) than it has.
Pods bound by any scheduler count. It exits 1 when it finds anything, so it
can run in CI or as a CronJob.`,
		Args: cobra.NoArgs,
		RunE: printErrors(func(cmd *cobra.Command, _ []string) error {
			_, closeLog, err := setupLogging(logFile)
			if err != nil {
				return err
			}
			defer closeLog()
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			ctx := cmd.Context()
			var schedCfg *schedconfig.KubeSchedulerConfiguration
			if cfgPath != "" {
				if schedCfg, err = devcluster.LoadSchedulerConfig(ctx, cfgPath); err != nil {
					return err
				}
			}
			iso, model, err := simulate.Policies(schedCfg)
			if err != nil {
				return err
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return fmt.Errorf("loading kubeconfig: %w", err)
			}
			client, err := kubernetes.NewForConfig(restCfg)
			if err != nil {
				return fmt.Errorf("creating client: %w", err)
			}
			snap, err := simulate.ReadSnapshot(ctx, client)
			if err != nil {
				return err
			}
			violations, err := simulate.Audit(*snap, iso, model)
			if err != nil {
				return err
			}
			report := auditReport{
				Nodes: len(snap.Nodes), Pods: len(snap.Pods), Namespaces: len(snap.Namespaces), RuntimeClasses: len(snap.RuntimeClasses),
				Violations: violations,
			}
			if err := writeAudit(cmd.OutOrStdout(), output, report); err != nil {
				return err
			}
			if n := len(report.Violations); n > 0 {
				return fmt.Errorf("%d violation(s) found", n)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to audit (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().StringVar(&cfgPath, "scheduler-config", "",
		"the cluster's mtscn-scheduler configuration, for its tenant label keys, infrastructure namespaces, sandboxed handlers and VM profiles (default: the built-in defaults)")
	addLogFlag(cmd, &logFile)
	return cmd
}

func writeAudit(w io.Writer, format string, r auditReport) error {
	if format == "json" {
		if r.Violations == nil {
			r.Violations = []audit.Violation{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if _, err := fmt.Fprintf(w, "audited %d nodes, %d pods, %d namespaces, %d runtime classes\n", r.Nodes, r.Pods, r.Namespaces, r.RuntimeClasses); err != nil {
		return err
	}
	return simulate.WriteViolations(w, r.Violations)
}
