package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/cluster"
)

func newWebhookCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "webhook",
		Short: "Run the webhook receiver in a cluster (in-cluster entry point)",
		Long: `Run the webhook receiver on SLIPWAY_WEBHOOK_ADDR: deliveries to /hooks/<provider> from GitHub,
GitLab, Gitea, Forgejo and Bitbucket are verified against the Applications' webhook Secrets (and
the provider-wide ones in SLIPWAY_WEBHOOK_SECRETS) and recorded as Deliveries.
` + clusterHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cluster.LoadWebhook(os.Getenv)
			if err != nil {
				return err
			}
			return runInCluster(cmd.Context(), &cfg.Common, func(ctx context.Context) error { return cluster.RunWebhook(ctx, cfg) })
		},
	}
}
