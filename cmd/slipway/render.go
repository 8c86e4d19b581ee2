package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/deploy"
)

// maxAppFile caps the Application file read by -f.
const maxAppFile = 1 << 20

type renderFlags struct {
	client clientFlags
	env    string
	image  string
	file   string
}

func newRenderCmd() *cobra.Command {
	var f renderFlags
	cmd := &cobra.Command{
		Use:   "render APP --env ENV [--image REF@sha256:...] [-f app.yaml]",
		Short: "Print the manifests a deploy would commit to the config repo",
		Long: `Render prints exactly the files a deploy of APP to ENV would commit to the config repo,
each under its path (environments/<env>/<app>/...), as one YAML stream.

The Application comes from the cluster, or from a file with -f. The image is --image, which
must be pinned by digest, or else the image of the Application's latest Release.`,
		Example: `  slipway render hello --env staging
  slipway render hello --env production --image registry.example.com/hello@sha256:<64 hex>
  slipway render --env dev -f hello.yaml --image registry.example.com/hello@sha256:<64 hex>`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runRender(cmd.Context(), f, name, cmd.OutOrStdout())
		},
	}
	f.client.register(cmd)
	cmd.Flags().StringVar(&f.env, "env", "", "environment to render (required)")
	cmd.Flags().StringVar(&f.image, "image", "", "image pinned by digest (default: the latest Release's image)")
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "read the Application from this YAML file instead of the cluster")
	return cmd
}

func runRender(ctx context.Context, f renderFlags, name string, w io.Writer) error {
	if f.env == "" {
		return errors.New("--env is required: name one of the Application's environments")
	}
	if name == "" && f.file == "" {
		return errors.New("name the Application (slipway render APP --env ENV) or give its file with -f")
	}
	var c client.Client
	connect := func() (client.Client, error) {
		if c != nil {
			return c, nil
		}
		var err error
		c, err = f.client.client()
		return c, err
	}
	app, err := loadApp(ctx, f, name, connect)
	if err != nil {
		return err
	}
	env, err := appchart.Environment(app, f.env)
	if err != nil {
		return err
	}
	image := f.image
	if image == "" {
		cl, err := connect()
		if err != nil {
			return fmt.Errorf("no --image given, and the latest Release cannot be looked up: %w", err)
		}
		if image, err = latestImage(ctx, cl, app); err != nil {
			return err
		}
	}
	files, err := appchart.Renderer{}.Render(ctx, app, env, image)
	if err != nil {
		return err
	}
	dir := deploy.Dir(env.Name, app.Name)
	for _, file := range files {
		fmt.Fprintf(w, "---\n# %s\n%s", path.Join(dir, file.Path), file.Data)
	}
	return nil
}

// loadApp reads the Application from f.file, or from the cluster.
func loadApp(ctx context.Context, f renderFlags, name string, connect func() (client.Client, error)) (*v1alpha1.Application, error) {
	if f.file != "" {
		app, err := readAppFile(f.file)
		if err != nil {
			return nil, err
		}
		if name != "" && name != app.Name {
			return nil, fmt.Errorf("%s holds application %q, not %q", f.file, app.Name, name)
		}
		if app.Namespace == "" {
			app.Namespace = f.client.namespace
		}
		return app, nil
	}
	c, err := connect()
	if err != nil {
		return nil, err
	}
	var app v1alpha1.Application
	if err := c.Get(ctx, client.ObjectKey{Namespace: f.client.namespace, Name: name}, &app); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("application %q not found in namespace %s", name, f.client.namespace)
		}
		return nil, fmt.Errorf("get application %s: %w", name, err)
	}
	return &app, nil
}

func readAppFile(p string) (*v1alpha1.Application, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read application file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxAppFile+1))
	if err != nil {
		return nil, fmt.Errorf("read application file %s: %w", p, err)
	}
	if len(data) > maxAppFile {
		return nil, fmt.Errorf("application file %s is larger than %d bytes", p, maxAppFile)
	}
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(data, &app); err != nil {
		return nil, fmt.Errorf("application file %s: %w", p, err)
	}
	if app.Kind != "Application" || app.APIVersion != v1alpha1.GroupVersion.String() {
		return nil, fmt.Errorf("application file %s: kind %q, apiVersion %q: want an Application (%s)", p, app.Kind, app.APIVersion, v1alpha1.GroupVersion)
	}
	if app.Name == "" {
		return nil, fmt.Errorf("application file %s: metadata.name is empty", p)
	}
	return &app, nil
}

// latestImage is the image of app's latest Release: the one its status names, or else the
// newest Release of the application in its namespace.
func latestImage(ctx context.Context, c client.Client, app *v1alpha1.Application) (string, error) {
	if name := app.Status.LatestRelease; name != "" {
		var rel v1alpha1.Release
		err := c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: name}, &rel)
		if err == nil {
			return rel.Spec.Image, nil
		}
		if !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("get release %s: %w", name, err)
		}
	}
	var list v1alpha1.ReleaseList
	if err := c.List(ctx, &list, client.InNamespace(app.Namespace)); err != nil {
		return "", fmt.Errorf("list releases: %w", err)
	}
	var latest *v1alpha1.Release
	for i := range list.Items {
		r := &list.Items[i]
		if r.Spec.Application != app.Name {
			continue
		}
		if latest == nil || latest.CreationTimestamp.Before(&r.CreationTimestamp) ||
			latest.CreationTimestamp.Equal(&r.CreationTimestamp) && r.Name > latest.Name {
			latest = r
		}
	}
	if latest == nil {
		return "", fmt.Errorf("application %s has no Release in namespace %s yet: pass --image REF@sha256:...", app.Name, app.Namespace)
	}
	return latest.Spec.Image, nil
}
