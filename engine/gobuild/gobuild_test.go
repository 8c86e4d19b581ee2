package gobuild

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"slipway.dev/slipway/engine/registry"
)

const helloDir = "../../testdata/apps/hello"

func startRegistry(t *testing.T) string {
	t.Helper()
	r, err := registry.Start(t.Context(), registry.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close registry: %v", err)
		}
	})
	return r.Host()
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

type file struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles reads every entry of a layer, keyed by its path without a trailing slash.
func layerFiles(t *testing.T, l v1.Layer) map[string]file {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", hdr.Name, err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = file{hdr: hdr, data: data}
	}
}

func TestPushBase(t *testing.T) {
	host := startRegistry(t)
	ref, err := PushBase(t.Context(), host+"/base/static:latest", true)
	if err != nil {
		t.Fatalf("PushBase: %v", err)
	}
	again, err := PushBase(t.Context(), host+"/base/static:again", true)
	if err != nil {
		t.Fatalf("PushBase again: %v", err)
	}
	if !strings.HasPrefix(ref, host+"/base/static@sha256:") {
		t.Errorf("PushBase = %q, want a digest reference in base/static", ref)
	}
	if ref[strings.Index(ref, "@"):] != again[strings.Index(again, "@"):] {
		t.Errorf("digests differ between pushes: %s, %s", ref, again)
	}

	img := pull(t, ref)
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s, want OCI", mt)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.Config.User != "65532" {
		t.Errorf("config = %s/%s user %q, want linux/amd64 user 65532", cfg.OS, cfg.Architecture, cfg.Config.User)
	}
	if !slices.ContainsFunc(cfg.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		t.Errorf("Env %q has no PATH", cfg.Config.Env)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want 1", len(layers), err)
	}
	files := layerFiles(t, layers[0])
	if f := files["etc/passwd"]; !strings.Contains(string(f.data), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q, want a nonroot 65532 entry", f.data)
	}
	if f := files["etc/group"]; !strings.Contains(string(f.data), "nonroot:x:65532:") {
		t.Errorf("/etc/group = %q, want a nonroot 65532 entry", f.data)
	}
	if _, ok := files["etc/nsswitch.conf"]; !ok {
		t.Error("no /etc/nsswitch.conf")
	}
	if f, ok := files["tmp"]; !ok || f.hdr.Typeflag != tar.TypeDir || f.hdr.Mode != 0o1777 {
		t.Errorf("/tmp = %+v, want a directory with mode 1777", f.hdr)
	}
	if ca, err := os.ReadFile(hostCABundle); err == nil {
		if f := files[caBundlePath]; string(f.data) != string(ca) {
			t.Error("CA bundle in the image differs from the host's")
		}
		if !slices.Contains(cfg.Config.Env, "SSL_CERT_FILE=/"+caBundlePath) {
			t.Errorf("Env %q has no SSL_CERT_FILE", cfg.Config.Env)
		}
	}
}

// TestBuildHello builds testdata/apps/hello twice, from two checkouts at different paths,
// onto PushBase's image, and runs the binary it finds in the pushed image.
func TestBuildHello(t *testing.T) {
	host := startRegistry(t)
	base, err := PushBase(t.Context(), host+"/base/static:latest", true)
	if err != nil {
		t.Fatalf("PushBase: %v", err)
	}
	opts := Options{
		SourceDir:  helloDir,
		BaseImage:  base,
		Repository: host + "/apps/hello",
		Tag:        "latest",
		Insecure:   true,
		Source:     "https://git.example.com/apps/hello",
		Revision:   "0123456789abcdef",
	}
	first, err := Build(t.Context(), opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("first build: compile %v, push %v, binary %d bytes, %s",
		first.Compile, first.Push, first.BinarySize, first.Image)

	opts.SourceDir = copyDir(t, helloDir)
	second, err := Build(t.Context(), opts)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	t.Logf("second build: compile %v, push %v", second.Compile, second.Push)
	if second.Digest != first.Digest {
		t.Errorf("same source gave digests %s and %s", first.Digest, second.Digest)
	}
	if want := host + "/apps/hello@" + first.Digest; first.Image != want {
		t.Errorf("Image = %q, want %q", first.Image, want)
	}

	img := pull(t, first.Image)
	checkImage(t, img, base, opts)
	if tagged := pull(t, host+"/apps/hello:latest"); digestOf(t, tagged) != first.Digest {
		t.Error("tag latest does not point at the built digest")
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, layers[len(layers)-1])
	bin, ok := files["app/hello"]
	if !ok {
		t.Fatalf("top layer has no app/hello; it has %v", keys(files))
	}
	if bin.hdr.Mode != 0o755 || bin.hdr.Uid != 0 || !bin.hdr.ModTime.Equal(time.Unix(0, 0)) {
		t.Errorf("app/hello header = mode %o uid %d mtime %v", bin.hdr.Mode, bin.hdr.Uid, bin.hdr.ModTime)
	}
	if int64(len(bin.data)) != first.BinarySize {
		t.Errorf("binary is %d bytes, Result says %d", len(bin.data), first.BinarySize)
	}
	runHello(t, bin.data)
}

func checkImage(t *testing.T, img v1.Image, base string, opts Options) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/app/hello"}) {
		t.Errorf("Entrypoint = %q, want [/app/hello]", cfg.Config.Entrypoint)
	}
	if cfg.Config.User != "65532" {
		t.Errorf("User = %q, want the base image's 65532", cfg.Config.User)
	}
	if !cfg.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("Created = %v, want the Unix epoch", cfg.Created)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		AnnotationSource:     opts.Source,
		AnnotationRevision:   opts.Revision,
		AnnotationBaseName:   base,
		AnnotationBaseDigest: base[strings.Index(base, "@")+1:],
	}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if len(m.Layers) != 2 || m.Layers[1].MediaType != types.OCILayer {
		t.Errorf("layers = %+v, want the base layer and one OCI layer", m.Layers)
	}
}

// runHello runs the binary taken from the image with PORT=0, checks both endpoints, then stops
// it with SIGTERM and expects a clean exit.
func runHello(t *testing.T, data []byte) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PORT=0", "VERSION=v9.9.9"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("run hello: %v", err)
	}
	addrs := make(chan string, 1)
	logs := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			for _, field := range strings.Fields(sc.Text()) {
				if a, ok := strings.CutPrefix(field, "addr="); ok {
					addrs <- a
				}
			}
		}
		logs <- all.String()
	}()

	var port string
	select {
	case a := <-addrs:
		_, port, _ = net.SplitHostPort(a)
	case <-ctx.Done():
		t.Fatal("hello never logged its address")
	}
	base := "http://127.0.0.1:" + port
	if got := get(t, base+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q, want ok", got)
	}
	if got := get(t, base+"/"); !strings.Contains(got, "v9.9.9") {
		t.Errorf("/ = %q, want the version from VERSION", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Read the log to its end before Wait, which closes the pipe and could cut off the last
	// lines (os/exec: Wait must not be called before all reads from the pipe have completed).
	out := <-logs
	err = cmd.Wait()
	if err != nil {
		t.Errorf("hello exited with %v after SIGTERM; log:\n%s", err, out)
	}
	if !strings.Contains(out, "shutting down") {
		t.Errorf("hello did not shut down gracefully; log:\n%s", out)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(body)
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		check func(t *testing.T, err error)
	}{
		{
			name: "compile error shows the compiler output",
			files: map[string]string{
				"go.mod":  "module example.com/broken\n\ngo 1.26\n",
				"main.go": "package main\n\nfunc main() {\n\tnotDefined()\n}\n",
			},
			check: func(t *testing.T, err error) {
				var ce *CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a *CompileError", err)
				}
				if !strings.Contains(err.Error(), "main.go:4:2: undefined: notDefined") {
					t.Errorf("error does not show the compiler's message:\n%v", err)
				}
			},
		},
		{
			name:  "missing go.mod",
			files: map[string]string{"main.go": "package main\n\nfunc main() {}\n"},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrNoGoMod) {
					t.Errorf("error %v is not ErrNoGoMod", err)
				}
			},
		},
		{
			name: "not a main package",
			files: map[string]string{
				"go.mod": "module example.com/lib\n\ngo 1.26\n",
				"lib.go": "package lib\n",
			},
			check: func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), "no main packages") {
					t.Errorf("error does not say the package is not main:\n%v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Compilation fails before any registry is contacted, so none is running.
			_, err := Build(t.Context(), Options{
				SourceDir:  dir,
				BaseImage:  "127.0.0.1:1/base/static:latest",
				Repository: "127.0.0.1:1/apps/broken",
				Insecure:   true,
			})
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			tt.check(t, err)
		})
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "checkout", "hello")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func keys(m map[string]file) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
