package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

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
started; a retried task shows each attempt. With -f, follow the run live until it finishes.`,
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
			return printLogs(cmd.Context(), c, f.namespace, args[0], ep, f.dir, follow, cmd.OutOrStdout())
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the run until it finishes")
	return cmd
}

// errRunnerGone ends following a run whose dev environment, and so its local runner, exited.
var errRunnerGone = errors.New("the local runner is not running")

func printLogs(ctx context.Context, c client.Client, ns, run string, ep devenv.Endpoints, dir string, follow bool, w io.Writer) error {
	gone := func() error {
		return fmt.Errorf("pipeline run %s is not finished, but `slipway dev` (pid %d), whose local runner runs it, is not running: "+
			"it makes no progress until `slipway dev --dir %s` starts again and resumes it", run, ep.PID, dir)
	}
	if follow && ep.PID > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		stop := watchRunner(ctx, ep.PID, cancel)
		defer stop()
	}
	err := localrunner.WriteLogs(ctx, c, ns, run, ep.LogDir, follow, w)
	if errors.Is(context.Cause(ctx), errRunnerGone) {
		return gone()
	}
	if err != nil {
		if !follow {
			return fmt.Errorf("%w (list runs with `slipway get deliveries`)", err)
		}
		return err
	}
	if !follow && ep.PID > 0 && !processAlive(ep.PID) {
		var pr tektonv1.PipelineRun
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: run}, &pr); err == nil && !pr.IsDone() {
			fmt.Fprintf(w, "note: %v\n", gone())
		}
	}
	return nil
}

// watchRunner cancels ctx with errRunnerGone once the process pid has exited. stop ends the
// watch and waits for it.
func watchRunner(ctx context.Context, pid int, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	watchCtx, end := context.WithCancel(ctx)
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if !processAlive(pid) {
				cancel(errRunnerGone)
				return
			}
			select {
			case <-watchCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		end()
		<-done
		cancel(nil)
	}
}

// processAlive reports whether pid names a process that has not exited (a zombie has).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses and may hold anything.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}
