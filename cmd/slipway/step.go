package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/gitfetch"
	"slipway.dev/slipway/engine/gobuild"
)

// newStepCmd holds the steps of Slipway's catalog tasks. They run inside pipeline steps (the
// step image in a cluster, the slipway binary under the local runner), not by hand.
func newStepCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "step",
		Short:  "Run one step of a Slipway catalog task",
		Hidden: true,
	}
	cmd.AddCommand(newGitCloneStep(), newGoBuildStep(), newReportStatusStep(), newRecordImageStep(), newReadImageStep())
	cmd.AddCommand(newDetectStep())
	cmd.AddCommand(newBuildpacksBuildStep())
	cmd.AddCommand(newSignStep())
	cmd.AddCommand(newScanStep())
	cmd.AddCommand(newReuseImageStep())
	return cmd
}

func writeResult(path, value string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write result %s: %w", path, err)
	}
	return nil
}

func newGitCloneStep() *cobra.Command {
	var o gitfetch.Options
	var commitFile, urlFile string
	cmd := &cobra.Command{
		Use:   "git-clone",
		Short: "Fetch one exact commit into a directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sha, err := gitfetch.Fetch(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "checked out %s\n", sha)
			if err := writeResult(commitFile, sha); err != nil {
				return err
			}
			return writeResult(urlFile, o.URL)
		},
	}
	cmd.Flags().StringVar(&o.URL, "url", "", "repository clone URL")
	cmd.Flags().StringVar(&o.Revision, "revision", "", "commit SHA (full, a tag object's, or abbreviated with --ref)")
	cmd.Flags().StringVar(&o.Ref, "ref", "", "full ref the revision was pushed to (refs/heads/main); optional")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "checkout directory")
	cmd.Flags().StringVar(&commitFile, "commit-file", "", "result file for the commit")
	cmd.Flags().StringVar(&urlFile, "url-file", "", "result file for the URL")
	return cmd
}

func newGoBuildStep() *cobra.Command {
	var o gobuild.Options
	var insecure, urlFile, digestFile string
	cmd := &cobra.Command{
		Use:   "go-build",
		Short: "Build a Go app onto a base image and push it by digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Insecure, err = strconv.ParseBool(insecure); err != nil {
				return fmt.Errorf("--insecure-registry %q: want true or false", insecure)
			}
			if o.SourceDir == "" || o.BaseImage == "" || o.Repository == "" {
				return fmt.Errorf("--source, --base-image and --image are required")
			}
			o.Package = strings.TrimSpace(o.Package)
			res, err := gobuild.Build(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built %s (%d bytes) in %s, pushed in %s\n%s\n",
				res.Binary, res.BinarySize, res.Compile.Round(1e6), res.Push.Round(1e6), res.Image)
			if err := writeResult(urlFile, res.Image); err != nil {
				return err
			}
			return writeResult(digestFile, res.Digest)
		},
	}
	cmd.Flags().StringVar(&o.SourceDir, "source", "", "directory holding go.mod")
	cmd.Flags().StringVar(&o.Package, "package", ".", "main package relative to --source")
	cmd.Flags().StringVar(&o.BaseImage, "base-image", "", "base image reference")
	cmd.Flags().StringVar(&o.Repository, "image", "", "repository to push to")
	cmd.Flags().StringVar(&insecure, "insecure-registry", "false", "plain HTTP to the registry")
	cmd.Flags().StringVar(&o.Revision, "revision", "", "source commit, recorded as an annotation")
	cmd.Flags().StringVar(&urlFile, "image-url-file", "", "result file for IMAGE_URL")
	cmd.Flags().StringVar(&digestFile, "image-digest-file", "", "result file for IMAGE_DIGEST")
	return cmd
}
