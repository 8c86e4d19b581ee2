package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/imagetag"
)

// imageByDigest is an image reference pinned by digest.
var imageByDigest = regexp.MustCompile(`^[^@\s]+@(sha256:[0-9a-f]{64})$`)

// newRecordImageStep copies a build task's IMAGE_URL result into the source workspace. The
// deploy pipeline chooses one of several build tasks with when expressions, and the tasks after
// it cannot refer to the results of the skipped ones; they read the record instead.
func newRecordImageStep() *cobra.Command {
	var from, workspace, record string
	cmd := &cobra.Command{
		Use:   "record-image",
		Short: "Record the image a build task pushed in the workspace, for the tasks after it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if record == "" {
				return nil // recording not asked for
			}
			if filepath.IsAbs(record) || strings.Contains(record, "..") {
				return fmt.Errorf("--record %q: must be a path inside the workspace", record)
			}
			to := filepath.Join(workspace, record)
			b, err := os.ReadFile(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			ref := strings.TrimSpace(string(b))
			if !imageByDigest.MatchString(ref) {
				return fmt.Errorf("--from %s: %q is not an image pinned by digest", from, ref)
			}
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(to, []byte(ref+"\n"), 0o644); err != nil {
				return fmt.Errorf("--record: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded %s\n", ref)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the build task's IMAGE_URL result file")
	cmd.Flags().StringVar(&workspace, "workspace", "", "the workspace the record goes in")
	cmd.Flags().StringVar(&record, "record", "", "the record's path inside the workspace; empty records nothing")
	return cmd
}

// newReadImageStep turns the record back into IMAGE_URL and IMAGE_DIGEST results and, with
// --tag, tags the image so that the next run from the same source tree finds it (reuse-image).
func newReadImageStep() *cobra.Command {
	var record, urlFile, digestFile, tag, insecure string
	cmd := &cobra.Command{
		Use:   "read-image",
		Short: "Read the image recorded by the build task that ran",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(record)
			if os.IsNotExist(err) {
				return fmt.Errorf("no image was recorded at %s: no build task ran (check the detect task's strategy and the build tasks' when expressions)", record)
			}
			if err != nil {
				return err
			}
			ref := strings.TrimSpace(string(b))
			m := imageByDigest.FindStringSubmatch(ref)
			if m == nil {
				return fmt.Errorf("%s: %q is not an image pinned by digest", record, ref)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "image %s\n", ref)
			if tag != "" {
				ins, err := strconv.ParseBool(insecure)
				if err != nil {
					return fmt.Errorf("--insecure-registry %q: want true or false", insecure)
				}
				if err := imagetag.New(imagetag.Insecure(ins)).Tag(cmd.Context(), ref, tag); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "tagged %s\n", tag)
			}
			if err := writeResult(urlFile, ref); err != nil {
				return err
			}
			return writeResult(digestFile, m[1])
		},
	}
	cmd.Flags().StringVar(&record, "record", "", "the record written by record-image")
	cmd.Flags().StringVar(&urlFile, "image-url-file", "", "result file for IMAGE_URL")
	cmd.Flags().StringVar(&digestFile, "image-digest-file", "", "result file for IMAGE_DIGEST")
	cmd.Flags().StringVar(&tag, "tag", "", "a tag to give the image in its repository; empty tags nothing")
	cmd.Flags().StringVar(&insecure, "insecure-registry", "false", "plain HTTP to the registry (with --tag)")
	return cmd
}
