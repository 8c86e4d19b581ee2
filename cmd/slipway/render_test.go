package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/crds"
	"slipway.dev/slipway/engine/devenv"
	"slipway.dev/slipway/engine/localkube"
)

const (
	renderDigest = "sha256:89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	renderImage  = "registry.local:5000/hello@" + renderDigest
	helloApp     = `apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: hello
spec:
  source:
    provider: github
    repoURL: https://github.com/acme/hello.git
  services:
    - name: web
      healthPath: /healthz
      routes: [{path: /}]
  workers:
    - name: jobs
  environments:
    - name: dev
      host: hello.dev.example.com
    - name: prod
`
)

func writeApp(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hello.yaml")
	if err := os.WriteFile(p, []byte(helloApp), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderFromFile proves the command prints exactly the renderer's files, each under its
// config-repo path, and nothing else.
func TestRenderFromFile(t *testing.T) {
	file := writeApp(t)
	out, err := run("render", "hello", "--env", "dev", "-f", file, "--image", renderImage)
	if err != nil {
		t.Fatal(err)
	}
	app, err := readAppFile(file)
	if err != nil {
		t.Fatal(err)
	}
	files, err := appchart.Renderer{}.Render(t.Context(), app, app.Spec.Environments[0], renderImage)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, f := range files {
		want.WriteString("---\n# environments/dev/hello/" + f.Path + "\n" + string(f.Data))
	}
	if out != want.String() {
		t.Fatalf("output differs from the rendered files:\n%s", out)
	}
	for _, p := range []string{"deployment-web.yaml", "deployment-jobs.yaml", "ingress-hello.yaml", "namespace.yaml"} {
		if !strings.Contains(out, "# environments/dev/hello/"+p+"\n") {
			t.Errorf("output lacks %s", p)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	file := writeApp(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no env", []string{"render", "hello", "-f", file, "--image", renderImage}, "--env is required"},
		{"no app", []string{"render", "--env", "dev"}, "name the Application"},
		{"unknown env", []string{"render", "hello", "--env", "staging", "-f", file, "--image", renderImage}, `unknown environment "staging": application hello has dev, prod`},
		{"other app in file", []string{"render", "bye", "--env", "dev", "-f", file, "--image", renderImage}, `holds application "hello", not "bye"`},
		{"tagged image", []string{"render", "hello", "--env", "dev", "-f", file, "--image", "registry.local:5000/hello:1.0"}, "image: Invalid value: \"registry.local:5000/hello:1.0\": must be pinned by digest"},
		{"missing file", []string{"render", "--env", "dev", "-f", filepath.Join(dir, "nope.yaml"), "--image", renderImage}, "read application file"},
		{"no image and no cluster", []string{"render", "hello", "--env", "dev", "-f", file, "--dir", dir}, "no --image given, and the latest Release cannot be looked up"},
		{"no cluster", []string{"render", "hello", "--env", "dev", "--dir", dir}, "no dev environment in " + dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", "")
			_, err := run(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestRenderFromCluster reads the Application and its latest Release's image from a real API
// server.
func TestRenderFromCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local kube-apiserver")
	}
	bin, err := localkube.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := localkube.Start(t.Context(), localkube.Options{
		BinDir: bin, StateDir: t.TempDir(), Components: localkube.APIServerOnly, NoFsync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	docs, err := crds.Slipway()
	if err != nil {
		t.Fatal(err)
	}
	if err := localkube.InstallCRDs(t.Context(), cluster.Config(), docs...); err != nil {
		t.Fatal(err)
	}
	scheme, err := devenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.Config(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	app, err := readAppFile(writeApp(t))
	if err != nil {
		t.Fatal(err)
	}
	app.Namespace = "default"
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	kc := cluster.KubeconfigPath()
	args := []string{"render", "hello", "--env", "prod", "--kubeconfig", kc}

	if _, err := run(args...); err == nil || !strings.Contains(err.Error(), "application hello has no Release in namespace default yet") {
		t.Fatalf("without releases: err = %v", err)
	}
	older := "registry.local:5000/hello@sha256:" + strings.Repeat("1", 64)
	for i, img := range []string{older, renderImage} {
		rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: []string{"hello-a", "hello-b"}[i], Namespace: "default"},
			Spec: v1alpha1.ReleaseSpec{Application: "hello", SourceSHA: strings.Repeat("a", 40), Image: img}}
		if err := c.Create(t.Context(), rel); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "image: "+renderImage) || strings.Contains(out, older) {
		t.Errorf("render did not use the latest release's image:\n%s", out)
	}
	if !strings.Contains(out, "# environments/prod/hello/deployment-web.yaml\n") {
		t.Errorf("output lacks the prod paths:\n%s", out)
	}
	// The Application's status names its latest Release, which wins over creation order.
	app.Status.LatestRelease = "hello-a"
	if err := c.Status().Update(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	if out, err = run(args...); err != nil || !strings.Contains(out, "image: "+older) {
		t.Errorf("with status.latestRelease=hello-a: err = %v, output:\n%s", err, out)
	}
	if _, err := run("render", "bye", "--env", "prod", "--kubeconfig", kc); err == nil || !strings.Contains(err.Error(), `application "bye" not found in namespace default`) {
		t.Errorf("unknown app: err = %v", err)
	}
}
