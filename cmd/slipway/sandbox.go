package main

import (
	"os"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/sandbox"
)

// newSandboxExecCmd is the inside half of engine/sandbox: Run re-executes this binary with it
// in fresh namespaces. It is not for running by hand.
func newSandboxExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:                sandbox.ExecCommand,
		Short:              "Set up a build sandbox and run its command (internal)",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		Run: func(*cobra.Command, []string) {
			os.Exit(sandbox.Child())
		},
	}
}
