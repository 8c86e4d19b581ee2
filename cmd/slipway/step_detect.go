package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/detect"
)

// maxEvidenceResult keeps the evidence result well inside Tekton's 4 KiB for all results.
const maxEvidenceResult = 1500

// newDetectStep is the step of the detect catalog task: it decides the build strategy and
// writes the decision as Tekton results for the pipeline's when-expressions.
func newDetectStep() *cobra.Command {
	var c detect.Choice
	var source, path, resultDir string
	cmd := &cobra.Command{
		Use:   "detect",
		Short: "Decide how to build the source and write the decision as results",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" {
				return fmt.Errorf("--source is required")
			}
			res, err := detect.Decide(cmd.Context(), source, path, c)
			if err != nil {
				return err
			}
			if err := res.Explain(cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("write explanation: %w", err)
			}
			if resultDir == "" {
				return nil
			}
			// Every Tekton result is a file named after it in one directory; Clean makes
			// "$(results.strategy.path)/.." that directory without it having to exist.
			results := []struct{ name, value string }{
				{"strategy", res.Strategy},
				{"language", res.Language},
				{"framework", res.Framework},
				{"port", strconv.Itoa(res.Port)},
				{"component", res.Component},
				{"go-package", res.GoPackage},
				{"dockerfile", res.Dockerfile},
				{"evidence", res.EvidenceSummary(maxEvidenceResult)},
			}
			for _, r := range results {
				if err := writeResult(filepath.Join(resultDir, r.name), r.value); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "checked-out repository")
	cmd.Flags().StringVar(&path, "path", "", "the application's directory inside --source")
	cmd.Flags().StringVar(&c.Strategy, "strategy", "auto", "auto, buildpacks, dockerfile or ko")
	cmd.Flags().StringVar(&c.Dockerfile, "dockerfile", "", "Dockerfile relative to --path")
	cmd.Flags().StringVar(&c.GoPackage, "go-package", "", "Go main package relative to --path")
	cmd.Flags().StringVar(&resultDir, "result-dir", "", "directory to write results into (one file per result)")
	return cmd
}
