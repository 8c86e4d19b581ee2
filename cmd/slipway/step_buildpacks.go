package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"slipway.dev/slipway/engine/cnb"
)

// newBuildpacksBuildStep is the step of the buildpacks-build task: it runs the lifecycle's
// creator in a sandbox through engine/cnb and writes IMAGE_URL and IMAGE_DIGEST.
func newBuildpacksBuildStep() *cobra.Command {
	var o cnb.Options
	var builder, insecure, urlFile, digestFile string
	cmd := &cobra.Command{
		Use:   "buildpacks-build [NAME=VALUE...]",
		Short: "Build an app with Cloud Native Buildpacks and push it by digest",
		Long: "Build an app with Cloud Native Buildpacks: the lifecycle's creator runs in a fresh sandboxed root\n" +
			"made from the builder, as the builder's user (uid 1000 by default) inside. Arguments NAME=VALUE are the buildpacks' build-time\n" +
			"environment. The lifecycle and launcher binaries come from --lifecycle-dir, $SLIPWAY_SCTOOLS, or\n" +
			"the directory of `lifecycle` in PATH. CNB_REGISTRY_AUTH, if set, passes registry credentials; otherwise\n" +
			"those of $DOCKER_CONFIG/config.json for the image, run image and cache image registries are passed.",
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Insecure, err = strconv.ParseBool(insecure); err != nil {
				return fmt.Errorf("--insecure-registry %q: want true or false", insecure)
			}
			if o.Env, err = buildEnv(args); err != nil {
				return err
			}
			if builder == "" {
				return fmt.Errorf("--builder is required")
			}
			if isDir(builder) {
				if o.BuilderDir, err = filepath.Abs(builder); err != nil {
					return err
				}
			} else {
				o.BuilderImage = builder
			}
			if o.LifecycleDir == "" && o.BuilderDir != "" {
				if o.LifecycleDir, err = findLifecycle(); err != nil {
					return err
				}
			}
			o.RegistryAuth = os.Getenv("CNB_REGISTRY_AUTH")
			if o.RegistryAuth == "" {
				// The task's registry-credentials workspace arrives as DOCKER_CONFIG.
				if o.RegistryAuth, err = cnb.RegistryAuth(cmd.Context(), o.Image, o.RunImage, o.CacheImage); err != nil {
					return err
				}
			}
			o.Log = cmd.OutOrStdout()
			res, err := cnb.Build(cmd.Context(), cnb.NamespaceSandbox{}, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built in %s (root prepared in %s)\n%s\n",
				res.Create.Round(1e6), res.Prepare.Round(1e6), res.ImageURL)
			if err := writeResult(urlFile, res.ImageURL); err != nil {
				return err
			}
			return writeResult(digestFile, res.Digest)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.AppDir, "app", "", "application source directory")
	f.StringVar(&builder, "builder", "", "builder image (pinned by digest), or a builder directory (order.toml, buildpacks/<id>/<version>/)")
	f.StringVar(&o.LifecycleDir, "lifecycle-dir", "", "directory holding the lifecycle and launcher binaries (a builder image brings its own)")
	f.StringVar(&o.Image, "image", "", "image to push, repository[:tag]")
	f.StringVar(&o.RunImage, "run-image", "", "run image (default: the builder's run.toml)")
	f.StringVar(&o.CacheImage, "cache-image", "", "cache image (default: no cache)")
	f.StringVar(&insecure, "insecure-registry", "false", "plain HTTP to the registries (loopback only)")
	f.StringVar(&o.WorkDir, "work-dir", "", "where the build root is made (default: the temporary directory)")
	f.StringVar(&urlFile, "image-url-file", "", "result file for IMAGE_URL")
	f.StringVar(&digestFile, "image-digest-file", "", "result file for IMAGE_DIGEST")
	return cmd
}

// buildEnv parses NAME=VALUE arguments.
func buildEnv(args []string) (map[string]string, error) {
	env := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("build env %q: want NAME=VALUE", a)
		}
		env[k] = v
	}
	return env, nil
}

// isDir tells a builder directory from a builder image reference.
func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// findLifecycle locates the lifecycle binaries: $SLIPWAY_SCTOOLS, else `lifecycle` in PATH.
func findLifecycle() (string, error) {
	if dir := os.Getenv("SLIPWAY_SCTOOLS"); dir != "" {
		return dir, nil
	}
	bin, err := exec.LookPath("lifecycle")
	if err != nil {
		return "", fmt.Errorf("no lifecycle binary: pass --lifecycle-dir, set SLIPWAY_SCTOOLS, or put it in PATH (hack/sctools/build.sh lifecycle builds it)")
	}
	return filepath.Dir(bin), nil
}
