package localrunner

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/engine/baseimage"
	"slipway.dev/slipway/engine/sandbox"
)

// builtSlipwayDir holds a slipway binary built for this test run, if one was.
var builtSlipwayDir string

// slipwayBinary is SLIPWAY_BINARY, or a slipway built once for this test run.
var slipwayBinary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("SLIPWAY_BINARY"); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "slipway-bin-")
	if err != nil {
		return "", err
	}
	builtSlipwayDir = dir
	bin := filepath.Join(dir, "slipway")
	out, err := exec.Command("go", "build", "-o", bin, "slipway.dev/slipway/cmd/slipway").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build slipway: %v\n%s", err, out)
	}
	return bin, nil
})

// kanikoExecutor returns the pinned Kaniko executor from SLIPWAY_SCTOOLS, building it with
// hack/sctools/build.sh when the variable is unset.
func kanikoExecutor(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("sandboxed steps need a runner that is real root")
	}
	dir := os.Getenv("SLIPWAY_SCTOOLS")
	if dir == "" {
		if testing.Short() {
			tb.Skip("needs the Kaniko executor: set SLIPWAY_SCTOOLS=$(hack/sctools/build.sh) or run make test")
		}
		out, err := exec.Command("../../hack/sctools/build.sh", "kaniko").Output()
		if err != nil {
			tb.Skipf("needs the Kaniko executor, and hack/sctools/build.sh kaniko failed (%v); set SLIPWAY_SCTOOLS or run make test", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	exe := filepath.Join(dir, "executor")
	if _, err := os.Stat(exe); err != nil {
		tb.Fatalf("SLIPWAY_SCTOOLS=%s has no Kaniko executor: %v", dir, err)
	}
	return exe
}

// kanikoEnv is a registry with a busybox base image and a local runner whose Kaniko image
// runs in a sandbox.
type kanikoEnv struct {
	reg, base string
	opts      Options
	dir       string
	task      *v1.TaskSpec
}

func newKanikoEnv(tb testing.TB) *kanikoEnv {
	tb.Helper()
	exe := kanikoExecutor(tb)
	slipway, err := slipwayBinary()
	if err != nil {
		tb.Skipf("the task's result steps need the slipway binary (set SLIPWAY_BINARY, make build): %v", err)
	}
	if _, err := os.Stat(baseimage.DefaultBusybox); err != nil {
		tb.Skipf("no static busybox for the base image (apt-get install busybox-static): %v", err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(srv.Close)
	reg := strings.TrimPrefix(srv.URL, "http://")
	base, err := baseimage.PushBusybox(context.Background(), reg+"/base/busybox:1", baseimage.Options{Insecure: true})
	if err != nil {
		tb.Fatal(err)
	}
	task, err := catalog.Task("kaniko-build", "0.1")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	return &kanikoEnv{reg: reg, base: base.Ref, dir: dir, task: &task.Spec, opts: Options{
		WorkRoot: filepath.Join(dir, "work"),
		LogRoot:  filepath.Join(dir, "logs"),
		Steps: &HostSteps{
			Sandboxes:     map[string]SandboxImage{KanikoImage: KanikoSandbox(exe)},
			SandboxDir:    filepath.Join(dir, "sandboxes"),
			SlipwayBinary: slipway,
		},
	}}
}

// build runs the kaniko-build catalog task on a copy of src and returns its outcome.
func (k *kanikoEnv) build(tb testing.TB, ctx context.Context, run, src, image string, params ...v1.Param) TaskOutcome {
	tb.Helper()
	ws := filepath.Join(k.opts.WorkRoot, "default", run, "workspaces", "source")
	if err := os.CopyFS(ws, os.DirFS(src)); err != nil {
		tb.Fatal(err)
	}
	pr := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: run, Namespace: "default"},
		Spec: v1.PipelineRunSpec{
			Workspaces: []v1.WorkspaceBinding{{Name: "source", EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	all := append(v1.Params{
		{Name: "image", Value: *v1.NewStructuredValues(image)},
		{Name: "insecure-registry", Value: *v1.NewStructuredValues("true")},
		{Name: "extra-args", Value: *v1.NewStructuredValues("--build-arg=BASE="+k.base, "--build-arg=GREETING=hi")},
	}, params...)
	spec := &v1.PipelineSpec{
		Workspaces: []v1.PipelineWorkspaceDeclaration{{Name: "source"}},
		Tasks: []v1.PipelineTask{{
			Name:       "build",
			TaskRef:    &v1.TaskRef{Name: "kaniko-build"},
			Params:     all,
			Workspaces: []v1.WorkspacePipelineTaskBinding{{Name: "source", Workspace: "source"}},
		}},
	}
	out := Execute(ctx, Run{PipelineRun: pr, Pipeline: spec, Tasks: map[string]*v1.TaskSpec{"build": k.task}}, k.opts)
	for _, o := range out.Tasks {
		if o.PipelineTask == "build" {
			return o
		}
	}
	tb.Fatalf("no build task in %+v", out)
	return TaskOutcome{}
}

func stepLog(tb testing.TB, o TaskOutcome) string {
	tb.Helper()
	if len(o.Steps) == 0 {
		tb.Fatalf("task %s ran no steps: %s", o.PipelineTask, o.Message)
	}
	b, err := os.ReadFile(o.Steps[0].LogPath)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// imageFiles pulls ref and returns the regular files of its flattened filesystem.
func imageFiles(t *testing.T, ref string) (map[string]string, []string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg && h.Size < 1<<16 {
				b, _ := io.ReadAll(tr)
				files[strings.TrimPrefix(h.Name, "/")] = string(b)
			}
		}
		rc.Close()
	}
	return files, cf.Config.Entrypoint
}

func hostOwner(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

func TestKanikoBuildInSandbox(t *testing.T) {
	k := newKanikoEnv(t)
	src := "../../testdata/apps/dockerfile-hello"
	image := k.reg + "/apps/dockerfile-hello:latest"
	first := k.build(t, t.Context(), "kaniko-1", src, image)
	logs := stepLog(t, first)
	if first.State != TaskSucceeded {
		t.Fatalf("build %s: %s\n%s", first.State, first.Message, logs)
	}
	digest := resultOf(first, "IMAGE_DIGEST")
	url := resultOf(first, "IMAGE_URL")
	if !strings.HasPrefix(digest, "sha256:") || url != k.reg+"/apps/dockerfile-hello@"+digest {
		t.Fatalf("IMAGE_DIGEST = %q, IMAGE_URL = %q; want %s/apps/dockerfile-hello@sha256:...", digest, url, k.reg)
	}
	if !strings.Contains(logs, "RUN as uid 0") {
		t.Errorf("the RUN step did not report uid 0 inside:\n%s", logs)
	}

	files, entrypoint := imageFiles(t, url)
	for path, want := range map[string]string{
		"srv/www/built-by-uid": "0\n",
		"srv/www/greeting.txt": "hi from a Dockerfile\n",
	} {
		if files[path] != want {
			t.Errorf("%s in the image = %q, want %q", path, files[path], want)
		}
	}
	if !strings.Contains(files["srv/www/index.html"], "built by Kaniko") {
		t.Errorf("index.html not copied: %q", files["srv/www/index.html"])
	}
	if strings.Join(entrypoint, " ") != "/bin/busybox httpd -f -p 8080 -h /srv/www" {
		t.Errorf("entrypoint = %q", entrypoint)
	}

	// Outside, the build's root is host uid 100000: its result files and the workspace it
	// used belong to that uid, not to host root.
	trDir := filepath.Join(k.opts.WorkRoot, "default", "kaniko-1", "taskruns", first.TaskRunName)
	if uid := hostOwner(t, filepath.Join(trDir, "results", "IMAGE_DIGEST")); uid != sandbox.DefaultBase {
		t.Errorf("host sees IMAGE_DIGEST owned by uid %d, want %d", uid, sandbox.DefaultBase)
	}
	if uid := hostOwner(t, filepath.Join(k.opts.WorkRoot, "default", "kaniko-1", "workspaces", "source", "Dockerfile")); uid != sandbox.DefaultBase {
		t.Errorf("host sees the workspace owned by uid %d, want %d", uid, sandbox.DefaultBase)
	}
	// Each step's root is removed when the step ends.
	if entries, _ := os.ReadDir(filepath.Join(k.dir, "sandboxes")); len(entries) != 0 {
		t.Errorf("%d sandbox roots left behind", len(entries))
	}

	// --reproducible: the same context and base give the same digest, this time from cache.
	second := k.build(t, t.Context(), "kaniko-2", src, k.reg+"/apps/dockerfile-hello:again")
	if second.State != TaskSucceeded {
		t.Fatalf("second build %s: %s\n%s", second.State, second.Message, stepLog(t, second))
	}
	if got := resultOf(second, "IMAGE_DIGEST"); got != digest {
		t.Errorf("second build digest = %s, first %s", got, digest)
	}
	if !strings.Contains(stepLog(t, second), "Found cached layer") {
		t.Errorf("second build did not use the cache repository:\n%s", stepLog(t, second))
	}
}

func TestKanikoFailingRun(t *testing.T) {
	k := newKanikoEnv(t)
	// This build enters its sandbox through `slipway sandbox-exec`, as slipway dev does.
	k.opts.Steps.(*HostSteps).SandboxExecutable = k.opts.Steps.(*HostSteps).SlipwayBinary
	src := t.TempDir()
	dockerfile := "ARG BASE\nFROM ${BASE}\nRUN echo about to fail && exit 3\n"
	if err := os.WriteFile(filepath.Join(src, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	o := k.build(t, t.Context(), "kaniko-fail", src, k.reg+"/apps/broken:latest")
	logs := stepLog(t, o)
	if o.State != TaskFailed {
		t.Fatalf("state = %s (%s), want failed\n%s", o.State, o.Message, logs)
	}
	// Kaniko exits with the failing command's code.
	if !strings.Contains(o.Message, `"step-build-and-push" exited with code 3`) {
		t.Errorf("message = %q", o.Message)
	}
	for _, want := range []string{"about to fail", "exit status 3"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if _, ok := taskResult(o, "IMAGE_DIGEST"); ok {
		t.Error("a failed build reported a digest")
	}
}

func TestSandboxImageRefusesScripts(t *testing.T) {
	h := &HostSteps{Sandboxes: map[string]SandboxImage{KanikoImage: KanikoSandbox("/nonexistent/executor")}}
	var log bytes.Buffer
	_, err := h.RunStep(t.Context(), StepExec{Name: "s", Image: KanikoImage + ":v1", Script: "echo hi", Log: &log})
	if err == nil || !strings.Contains(err.Error(), "no shell") {
		t.Fatalf("err = %v, want a refusal naming the missing shell", err)
	}
	// Images in neither table still fail clearly.
	_, err = h.RunStep(t.Context(), StepExec{Name: "s", Image: "example.com/unknown:1", Command: []string{"x"}, Log: &log})
	if err == nil || !strings.Contains(err.Error(), "example.com/unknown") {
		t.Fatalf("err = %v, want ErrUnknownImage naming the image", err)
	}
}

func TestOutermost(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"nested", []string{"/a/b", "/a", "/c"}, "/a /c"},
		{"siblings with a common prefix", []string{"/a/bc", "/a/b"}, "/a/b /a/bc"},
		{"duplicates", []string{"/x/", "/x"}, "/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(outermost(tc.in), " "); got != tc.want {
				t.Errorf("outermost(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// BenchmarkKaniko builds the Dockerfile app with an empty cache repository (cold) and with one
// a previous build filled (warm).
func BenchmarkKaniko(b *testing.B) {
	if testing.Short() {
		b.Skip("builds images with Kaniko")
	}
	k := newKanikoEnv(b)
	src := "../../testdata/apps/dockerfile-hello"
	n := 0
	build := func(b *testing.B, cache string) {
		n++
		run := fmt.Sprintf("bench-%d", n)
		o := k.build(b, b.Context(), run, src, k.reg+"/apps/bench:latest",
			v1.Param{Name: "cache-repo", Value: *v1.NewStructuredValues(cache)})
		if o.State != TaskSucceeded {
			b.Fatalf("build: %s\n%s", o.Message, stepLog(b, o))
		}
		_ = os.RemoveAll(filepath.Join(k.opts.WorkRoot, "default", run))
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			build(b, fmt.Sprintf("%s/cache/cold-%d", k.reg, n))
		}
	})
	b.Run("warm", func(b *testing.B) {
		warm := k.reg + "/cache/warm"
		build(b, warm)
		b.ResetTimer()
		for b.Loop() {
			build(b, warm)
		}
	})
}

func resultOf(o TaskOutcome, name string) string {
	v, _ := taskResult(o, name)
	return v
}

func taskResult(o TaskOutcome, name string) (string, bool) {
	for _, r := range o.Results {
		if r.Name == name {
			return r.Value.StringVal, true
		}
	}
	return "", false
}
