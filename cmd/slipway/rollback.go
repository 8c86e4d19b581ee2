package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/deploy"
)

func newRollbackCmd() *cobra.Command {
	var (
		f       clientFlags
		env, to string
		wait    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rollback APP --env ENV [--to RELEASE]",
		Short: "Re-deploy an earlier Release of an application to one environment",
		Long: `rollback returns ENV to the state an earlier Release ran in: it restores, in the application's
directory of the config repo for ENV, the manifests that Release committed there (read back from
the config repo's history), and the syncer applies them, verifying the image's signature first.

The manifests are restored as they were, configuration included: the image, and the replicas,
environment variables, resources, probes and routes the Release ran with. Changes made to the
Application since then are not applied by the rollback; the next Release renders them again.
Only a Release that ran in ENV can be chosen; promote one that did not.

Without --to it picks the newest Release deployed to ENV before the current one. It waits (see
--wait) until the application's status shows the release synced and healthy there, and fails
if the syncer refuses or fails the sync.`,
		Example: `  slipway rollback hello --env staging
  slipway rollback hello --env production --to hello-0d1a26e67d8f`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if env == "" {
				return errors.New("--env is required")
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rel, err := deploy.RequestRollback(ctx, c, f.namespace, args[0], env, to)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "rolling %s in %s back to %s (%s)\n", args[0], env, rel.Name, rel.Spec.Image)
			if wait <= 0 {
				return nil
			}
			return waitRolledBack(ctx, c, f.namespace, args[0], env, rel.Name, wait, out)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "environment to roll back (required)")
	cmd.Flags().StringVar(&to, "to", "", "release to deploy (default: the one deployed before the current)")
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "wait this long for the release to be synced and healthy; 0 returns at once")
	return cmd
}

// waitRolledBack polls the Application until env runs rel, synced and Healthy.
func waitRolledBack(ctx context.Context, c client.Client, ns, app, env, rel string, limit time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		var a v1alpha1.Application
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: app}, &a); err == nil {
			for _, e := range a.Status.Environments {
				if e.Name != env {
					continue
				}
				state := fmt.Sprintf("%s: release %s, sync %s, health %s", env, e.Release, e.Sync, e.Health)
				if state != last {
					fmt.Fprintln(out, state)
					last = state
				}
				if e.Release == rel && e.Sync == "Synced" && e.Health == "Healthy" {
					return nil
				}
				if e.Release == rel && (e.Sync == "Refused" || e.Sync == "Failed") {
					return fmt.Errorf("rollback of %s to %s: sync %s: %s", env, rel, e.Sync, e.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollback of %s to %s requested, but not synced and healthy within %v (last: %s)", env, rel, limit, last)
		case <-tick.C:
		}
	}
}
