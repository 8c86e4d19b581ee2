package cnb_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"slipway.dev/slipway/engine/baseimage"
	"slipway.dev/slipway/engine/cnb"
)

const (
	builderDir = "../../testdata/buildpacks"
	helloApp   = "../../testdata/apps/buildpacks-hello"
)

var (
	lifecycleOnce sync.Once
	lifecycleDir  string
	lifecycleErr  error
)

// lifecycle returns the directory holding the lifecycle and launcher: $SLIPWAY_SCTOOLS, or what
// hack/sctools/build.sh prints (it builds once and caches).
func lifecycle(tb testing.TB) string {
	tb.Helper()
	lifecycleOnce.Do(func() {
		if dir := os.Getenv("SLIPWAY_SCTOOLS"); dir != "" {
			lifecycleDir = dir
			return
		}
		out, err := exec.Command("../../hack/sctools/build.sh", "lifecycle").Output()
		if err != nil {
			lifecycleErr = err
			return
		}
		lifecycleDir = strings.TrimSpace(string(out))
	})
	if lifecycleErr != nil {
		tb.Fatalf("build the lifecycle (hack/sctools/build.sh lifecycle): %v", lifecycleErr)
	}
	for _, f := range []string{"lifecycle", "launcher"} {
		if _, err := os.Stat(filepath.Join(lifecycleDir, f)); err != nil {
			tb.Fatalf("SLIPWAY_SCTOOLS=%s has no %s: %v", lifecycleDir, f, err)
		}
	}
	return lifecycleDir
}

// env is one test registry with the busybox run image pushed to it.
type env struct {
	reg      string
	runImage string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("the sandbox maps a range of host uids, which needs root")
	}
	if _, err := os.Stat(baseimage.DefaultBusybox); err != nil {
		tb.Skipf("no static busybox at %s (apt-get install busybox-static)", baseimage.DefaultBusybox)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(srv.Close)
	reg := strings.TrimPrefix(srv.URL, "http://")
	run, err := baseimage.PushBusybox(context.Background(), reg+"/slipway/base-busybox:test", baseimage.Options{Insecure: true})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{reg: reg, runImage: run.Ref}
}

func (e *env) options(tb testing.TB, app, repo string) cnb.Options {
	return cnb.Options{
		AppDir:       app,
		BuilderDir:   builderDir,
		LifecycleDir: lifecycle(tb),
		Image:        e.reg + "/apps/" + repo + ":latest",
		RunImage:     e.runImage,
		CacheImage:   e.reg + "/cache/" + repo,
		Insecure:     true,
		WorkDir:      workDir(tb),
	}
}

func TestBuildPushesImageAndReusesCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opts := e.options(t, helloApp, "hello")

	var cold bytes.Buffer
	opts.Log = &cold
	first, err := cnb.Build(ctx, cnb.NamespaceSandbox{}, opts)
	if err != nil {
		t.Fatalf("cold build: %v\n%s", err, cold.String())
	}
	t.Logf("cold build: prepare %s, creator %s, %s", first.Prepare, first.Create, first.ImageURL)
	if want := e.reg + "/apps/hello@" + first.Digest; first.ImageURL != want {
		t.Errorf("ImageURL = %q, want %q", first.ImageURL, want)
	}
	for _, want := range []string{"static-site: building as uid 1000 gid 1000", "static-site: creating httpd layer", "no cached site index; first build"} {
		if !strings.Contains(cold.String(), want) {
			t.Errorf("cold build log lacks %q:\n%s", want, cold.String())
		}
	}

	img := pull(t, first.ImageURL)
	if got := digestOf(t, img); got != first.Digest {
		t.Errorf("registry digest %s, report digest %s", got, first.Digest)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/cnb/process/web" {
		t.Errorf("entrypoint = %q, want the launcher's web process", got)
	}
	var meta struct {
		Processes []struct {
			Type    string   `json:"type"`
			Command []string `json:"command"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(cfg.Config.Labels["io.buildpacks.build.metadata"]), &meta); err != nil {
		t.Fatalf("build metadata label: %v", err)
	}
	if len(meta.Processes) != 1 || meta.Processes[0].Type != "web" ||
		len(meta.Processes[0].Command) != 1 || !strings.HasSuffix(meta.Processes[0].Command[0], "/httpd/bin/serve") {
		t.Errorf("processes = %+v, want one web process running httpd/bin/serve", meta.Processes)
	}
	files := imageFiles(t, img)
	for _, f := range []string{"cnb/lifecycle/launcher", "cnb/process/web", "workspace/public/index.html",
		"layers/slipway_static-site/httpd/bin/serve", "layers/slipway_static-site/httpd/env.launch/SITE_ROOT.default", "bin/busybox"} {
		if _, ok := files[f]; !ok {
			t.Errorf("image lacks /%s", f)
		}
	}
	if got := files["layers/slipway_static-site/httpd/env.launch/SITE_ROOT.default"]; got != "/workspace/public" {
		t.Errorf("SITE_ROOT default = %q, want /workspace/public", got)
	}

	var warm bytes.Buffer
	opts.Log = &warm
	second, err := cnb.Build(ctx, cnb.NamespaceSandbox{}, opts)
	if err != nil {
		t.Fatalf("warm build: %v\n%s", err, warm.String())
	}
	t.Logf("warm build: prepare %s, creator %s", second.Prepare, second.Create)
	for _, want := range []string{
		`Restoring data for "slipway/static-site:httpd" from cache`,
		`Restoring data for "slipway/static-site:site-index" from cache`,
		"static-site: reusing cached httpd layer",
		"static-site: 0 file(s) changed since the cached build",
		"Reusing layer 'slipway/static-site:httpd'",
	} {
		if !strings.Contains(warm.String(), want) {
			t.Errorf("warm build log lacks %q:\n%s", want, warm.String())
		}
	}
	if second.Digest != first.Digest {
		t.Errorf("same source built %s then %s; the lifecycle's normalised layers should give one digest", first.Digest, second.Digest)
	}
}

func TestBuildUsesPlatformEnv(t *testing.T) {
	e := newEnv(t)
	app := t.TempDir()
	if err := os.MkdirAll(filepath.Join(app, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "www", "index.html"), []byte("<p>www</p>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := e.options(t, app, "www")
	opts.Env = map[string]string{"BP_SITE_DIR": "www", "BP_PORT": "9090"}
	var out bytes.Buffer
	opts.Log = &out
	res, err := cnb.Build(context.Background(), cnb.NamespaceSandbox{}, opts)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	files := imageFiles(t, pull(t, res.ImageURL))
	for f, want := range map[string]string{
		"layers/slipway_static-site/httpd/env.launch/SITE_ROOT.default": "/workspace/www",
		"layers/slipway_static-site/httpd/env.launch/PORT.default":      "9090",
	} {
		if files[f] != want {
			t.Errorf("/%s = %q, want %q", f, files[f], want)
		}
	}
}

func TestBuildNoBuildpackDetected(t *testing.T) {
	e := newEnv(t)
	app := t.TempDir()
	if err := os.WriteFile(filepath.Join(app, "README.md"), []byte("no site here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := e.options(t, app, "nothing")
	_, err := cnb.Build(context.Background(), cnb.NamespaceSandbox{}, opts)
	if !errors.Is(err, cnb.ErrNoBuildpack) {
		t.Fatalf("err = %v, want ErrNoBuildpack", err)
	}
	var de *cnb.DetectError
	if !errors.As(err, &de) {
		t.Fatalf("err is %T, want *cnb.DetectError", err)
	}
	for _, want := range []string{"slipway/static-site@0.1.0", "spec.build.strategy", app, "No buildpack groups passed detection"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestBuildRejectsBadOptions(t *testing.T) {
	good := cnb.Options{AppDir: "a", BuilderDir: "b", LifecycleDir: "c", Image: "127.0.0.1:1/x"}
	tests := []struct {
		name string
		mod  func(*cnb.Options)
		want string
	}{
		{"no app", func(o *cnb.Options) { o.AppDir = "" }, "app directory"},
		{"no image", func(o *cnb.Options) { o.Image = "" }, "image"},
		{"bad env name", func(o *cnb.Options) { o.Env = map[string]string{"../x": "1"} }, `"../x"`},
		{"flag as image", func(o *cnb.Options) { o.CacheImage = "-daemon" }, `"-daemon"`},
		{"builder without order", func(o *cnb.Options) { o.BuilderDir = t.TempDir() }, "order.toml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.mod(&o)
			_, err := cnb.Build(context.Background(), cnb.NamespaceSandbox{}, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %s", err, tc.want)
			}
		})
	}
}

// BenchmarkBuild measures a cold build (empty cache image, no previous image) and a warm one.
func BenchmarkBuild(b *testing.B) {
	if testing.Short() {
		b.Skip("runs the lifecycle's creator")
	}
	e := newEnv(b)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// A new repository per round: no previous image, no cache.
			opts := e.options(b, helloApp, "bench-cold-"+strconv.Itoa(i))
			if _, err := cnb.Build(ctx, cnb.NamespaceSandbox{}, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		opts := e.options(b, helloApp, "bench-warm")
		if _, err := cnb.Build(ctx, cnb.NamespaceSandbox{}, opts); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := cnb.Build(ctx, cnb.NamespaceSandbox{}, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// workDir is a temporary directory the sandbox's users can enter (t.TempDir's are private).
func workDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for d := dir; d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func pull(tb testing.TB, ref string) v1.Image {
	tb.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		tb.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

func digestOf(tb testing.TB, img v1.Image) string {
	tb.Helper()
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// imageFiles returns the flattened image's paths, with the contents of small regular files.
func imageFiles(tb testing.TB, img v1.Image) map[string]string {
	tb.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			tb.Fatal(err)
		}
		p := strings.TrimPrefix(filepath.Clean("/"+h.Name), "/")
		files[p] = ""
		if h.Typeflag == tar.TypeReg && h.Size < 4096 {
			b, err := io.ReadAll(tr)
			if err != nil {
				tb.Fatal(err)
			}
			files[p] = string(b)
		}
	}
}
