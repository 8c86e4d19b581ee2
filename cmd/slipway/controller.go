package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"slipway.dev/slipway/engine/cluster"
)

const clusterHelp = `
In-cluster entry point: charts/slipway runs it in a Deployment and configures it with SLIPWAY_*
environment variables (see charts/slipway/README.md). A missing or malformed variable stops it
before anything starts, naming the variable. It talks to the cluster it runs in, or to the one
$KUBECONFIG names. Health probes are served on $SLIPWAY_HEALTH_ADDR (/healthz, /readyz).`

func newControllerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "controller",
		Short: "Run the reconcilers in a cluster (in-cluster entry point)",
		Long: `Run Slipway's reconcilers: Slipway's Tekton Pipelines and Tasks are installed (steps in
SLIPWAY_STEP_IMAGE, pinned by digest) in every namespace with Applications, Deliveries become
PipelineRuns that Tekton executes, finished runs
become Releases, Releases are rendered and committed to the config repo (SLIPWAY_CONFIG_REPO_*),
and old runs are cleaned up. SLIPWAY_LEADER_ELECT=true lets one of several replicas work.
` + clusterHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cluster.LoadController(os.Getenv)
			if err != nil {
				return err
			}
			cfg.Version = version
			return runInCluster(cmd.Context(), &cfg.Common, func(ctx context.Context) error { return cluster.RunController(ctx, cfg) })
		},
	}
}

// runInCluster fills in the API server and the logger, then runs the component.
func runInCluster(ctx context.Context, c *cluster.Common, run func(context.Context) error) error {
	kube, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	c.Kube = kube
	c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	return run(ctx)
}
