package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/imagetag"
	"slipway.dev/slipway/engine/sourcekey"
)

// newReuseImageStep looks for an image already built from the same source tree and build
// settings. Found, it records the image for read-image as a build task would and reports
// reused=true, and the pipeline skips its build tasks; not found, it reports reused=false.
func newReuseImageStep() *cobra.Command {
	var workspace, dir, image, insecure, record string
	var reusedFile, keyFile, tagFile string
	cmd := &cobra.Command{
		Use:   "reuse-image --workspace DIR --image REPOSITORY [flags] [NAME=VALUE...]",
		Short: "Reuse the image already built from the same source tree and build settings",
		Long: "reuse-image names the build input (the Git tree of --path at the checkout's HEAD and the build\n" +
			"settings given as NAME=VALUE arguments) and looks its tag up in --image. Found, it writes the image\n" +
			"record the build tasks would have written and reports reused=true.",
		RunE: func(cmd *cobra.Command, settings []string) error {
			ins, err := strconv.ParseBool(insecure)
			if err != nil {
				return fmt.Errorf("--insecure-registry %q: want true or false", insecure)
			}
			if workspace == "" || image == "" || record == "" {
				return errors.New("--workspace, --image and --record are required")
			}
			if filepath.IsAbs(record) || strings.Contains(record, "..") {
				return fmt.Errorf("--record %q: must be a path inside the workspace", record)
			}
			set := map[string]string{}
			for _, s := range settings {
				k, v, ok := strings.Cut(s, "=")
				if !ok {
					return fmt.Errorf("build setting %q: want NAME=VALUE", s)
				}
				set[k] = strings.TrimSpace(v)
			}
			tree, err := sourcekey.Tree(cmd.Context(), workspace, dir)
			if err != nil {
				return fmt.Errorf("source tree of %q: %w", dir, err)
			}
			key, err := sourcekey.Compute(tree, set)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "source tree %s of %q with %s: key %s\n", tree, dir, describe(set), key)
			if err := writeResult(keyFile, string(key)); err != nil {
				return err
			}
			if err := writeResult(tagFile, key.Tag()); err != nil {
				return err
			}
			// An unreachable registry fails the task rather than falling back to a build: the
			// build would push to the same registry, so it could only fail later and slower.
			found, err := imagetag.New(imagetag.Insecure(ins)).Lookup(cmd.Context(), image, key.Tag())
			switch {
			case errors.Is(err, imagetag.ErrNotFound):
				fmt.Fprintf(out, "no image tagged %s in %s: building\n", key.Tag(), image)
				return writeResult(reusedFile, "false")
			case err != nil:
				return fmt.Errorf("the registry could not say whether %s was already built (the build pushes there too): %w", image, err)
			}
			to := filepath.Join(workspace, record)
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return fmt.Errorf("--record: %w", err)
			}
			if err := os.WriteFile(to, []byte(found+"\n"), 0o644); err != nil {
				return fmt.Errorf("--record: %w", err)
			}
			fmt.Fprintf(out, "reusing %s (tagged %s): skipping the build\n", found, key.Tag())
			return writeResult(reusedFile, "true")
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "the source workspace: the checkout, and where the record goes")
	f.StringVar(&dir, "path", ".", "the application's directory inside the checkout")
	f.StringVar(&image, "image", "", "the repository the build pushes to")
	f.StringVar(&insecure, "insecure-registry", "false", "plain HTTP to the registry")
	f.StringVar(&record, "record", ".slipway/image", "the image record's path inside the workspace")
	f.StringVar(&reusedFile, "reused-file", "", "result file for reused")
	f.StringVar(&keyFile, "source-key-file", "", "result file for source-key")
	f.StringVar(&tagFile, "tag-file", "", "result file for tag")
	return cmd
}

// describe lists settings for the log, in a stable order.
func describe(set map[string]string) string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(set[k])
	}
	return strings.Join(parts, " ")
}
