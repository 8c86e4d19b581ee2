package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// version is stamped by the Makefile with -ldflags.
var version = "dev"

func defaultDir() string {
	if d := os.Getenv("SLIPWAY_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".slipway"
	}
	return filepath.Join(home, ".slipway", "dev")
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "slipway",
		Short: "Git push to a running, signed, verified deployment",
		Long: `Slipway turns a Git push into a running deployment: provider webhooks are verified and
recorded, Tekton pipelines build and push an image, manifests pinned by digest are committed
to a config repo, and a syncer applies them to the cluster.

Start here:
  slipway dev                 run everything on this machine (control plane, registry,
                              config repo, controllers, webhook receiver)
  slipway get apps            what is deployed where
  slipway logs RUN -f         follow a pipeline run's step logs`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newDevCmd(), newGetCmd(), newLogsCmd(), newRenderCmd(), newStepCmd(), newDetectCmd(), newSandboxExecCmd(), newControllerCmd(), newWebhookCmd(), newSyncerCmd(), newRollbackCmd())
	return root
}
