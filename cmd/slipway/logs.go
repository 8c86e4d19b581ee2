package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/devenv"
	"slipway.dev/slipway/engine/localrunner"
)

func newLogsCmd() *cobra.Command {
	var (
		f      clientFlags
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs PIPELINERUN",
		Short: "Show the step logs of a pipeline run run by the local runner",
		Long: `Show the step logs of a PipelineRun, task by task and step by step, in the order the tasks
started. With -f, follow the run live until it finishes.`,
		Example: `  slipway logs hello-deploy-1a2b3c4d5e -f
  slipway get deliveries    # the PIPELINERUNS column names the runs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ep, err := devenv.ReadEndpoints(f.dir)
			if err != nil {
				return err
			}
			return printLogs(cmd.Context(), c, f.namespace, args[0], ep.LogDir, follow, cmd.OutOrStdout())
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the run until it finishes")
	return cmd
}

func printLogs(ctx context.Context, c client.Client, ns, run, logRoot string, follow bool, w io.Writer) error {
	var pr tektonv1.PipelineRun
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: run}, &pr); err != nil {
		return fmt.Errorf("pipeline run %s/%s: %w (list runs with `slipway get deliveries`)", ns, run, err)
	}
	seen := map[string]bool{}
	for {
		var trs tektonv1.TaskRunList
		if err := c.List(ctx, &trs, client.InNamespace(ns), client.MatchingLabels{"tekton.dev/pipelineRun": run}); err != nil {
			return fmt.Errorf("list task runs of %s: %w", run, err)
		}
		sort.Slice(trs.Items, func(i, j int) bool {
			return trs.Items[i].CreationTimestamp.Before(&trs.Items[j].CreationTimestamp)
		})
		for _, tr := range trs.Items {
			if seen[tr.Name] {
				continue
			}
			seen[tr.Name] = true
			task := tr.Labels["tekton.dev/pipelineTask"]
			steps := tr.Status.Steps
			if len(steps) == 0 && tr.Status.TaskSpec != nil {
				for _, s := range tr.Status.TaskSpec.Steps {
					steps = append(steps, tektonv1.StepState{Name: s.Name})
				}
			}
			for _, s := range steps {
				fmt.Fprintf(w, "[%s : %s]\n", task, s.Name)
				path := localrunner.LogPath(logRoot, ns, run, tr.Name, s.Name)
				if follow {
					if err := localrunner.Follow(ctx, path, w); err != nil {
						return err
					}
				} else if err := copyFile(path, w); err != nil {
					fmt.Fprintf(w, "(no log yet: %v)\n", err)
				}
			}
		}
		if !follow {
			return nil
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: run}, &pr); err != nil {
			return err
		}
		if pr.IsDone() && len(seen) >= len(pr.Status.ChildReferences) {
			return nil
		}
		if err := sleep(ctx); err != nil {
			return nil
		}
	}
}
