package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/detect"
)

// newDetectCmd explains how Slipway would build a source directory, before anything is pushed.
func newDetectCmd() *cobra.Command {
	var c detect.Choice
	var path string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "detect [DIR]",
		Short: "Show how Slipway would build and run the source in DIR, and why",
		Long: `Detect looks at the source in DIR (default: the current directory) the way the deploy
pipeline does and prints the language, framework, build strategy, build and run commands, port
and component type it decides, with the files and lines that decided each. Use --path for an
application inside a monorepo and --strategy to check an explicit choice against the source.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			res, err := detect.Decide(cmd.Context(), dir, path, c)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if err := res.Explain(cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("write explanation: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "the application's directory inside DIR (spec.source.path)")
	cmd.Flags().StringVar(&c.Strategy, "strategy", "auto", "auto, buildpacks, dockerfile or ko (spec.build.strategy)")
	cmd.Flags().StringVar(&c.Dockerfile, "dockerfile", "", "Dockerfile relative to --path (spec.build.dockerfile)")
	cmd.Flags().StringVar(&c.GoPackage, "go-package", "", "Go main package relative to --path (spec.build.goPackage)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision as JSON")
	return cmd
}
