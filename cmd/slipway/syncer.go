package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/cluster"
)

func newSyncerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "syncer",
		Short: "Apply the config repo to the cluster (in-cluster entry point)",
		Long: `Apply every Application environment committed to the config repo (SLIPWAY_CONFIG_REPO_*) to the
cluster, every SLIPWAY_SYNC_INTERVAL and as soon as a new commit is recorded. Every image must be
signed by the key in SLIPWAY_SIGNING_PUBLIC_KEY, or the whole sync is refused; it refuses to
start without that key unless SLIPWAY_VERIFY_SIGNATURES=false.
` + clusterHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cluster.LoadSyncer(os.Getenv)
			if err != nil {
				return err
			}
			return runInCluster(cmd.Context(), &cfg.Common, func(ctx context.Context) error { return cluster.RunSyncer(ctx, cfg) })
		},
	}
}
