package cnb_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/baseimage"
	"slipway.dev/slipway/engine/cnb"
)

// pushBuilderImage makes a builder image the way builder images are laid out (a userland, a
// build user, /cnb with the lifecycle, buildpacks and order) with build user uid:gid 1002, and
// pushes it to the test registry.
func pushBuilderImage(t *testing.T, e *env) string {
	t.Helper()
	dir := t.TempDir()
	write := func(p string, data []byte, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write("bin/busybox", read(baseimage.DefaultBusybox), 0o755)
	list, err := exec.Command(baseimage.DefaultBusybox, "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "bin/busybox" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, a)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/bin/busybox", filepath.Join(dir, a)); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nbuilder:x:1002:1002:builder:/home/builder:/bin/sh\n"), 0o644)
	write("etc/group", []byte("root:x:0:\nbuilder:x:1002:\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "home/builder"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "home/builder"), 1002, 1002); err != nil {
		t.Fatal(err)
	}
	lc := lifecycle(t)
	write("cnb/lifecycle/lifecycle", read(filepath.Join(lc, "lifecycle")), 0o755)
	write("cnb/lifecycle/launcher", read(filepath.Join(lc, "launcher")), 0o755)
	for _, phase := range []string{"detector", "analyzer", "restorer", "builder", "exporter", "creator"} {
		if err := os.Symlink("lifecycle", filepath.Join(dir, "cnb/lifecycle", phase)); err != nil {
			t.Fatal(err)
		}
	}
	write("cnb/order.toml", read(filepath.Join(builderDir, "order.toml")), 0o644)
	write("cnb/run.toml", []byte("[[images]]\n  image = \""+e.runImage+"\"\n"), 0o644)
	bp := "buildpacks/slipway_static-site/0.1.0"
	for _, f := range []string{"buildpack.toml", "bin/detect", "bin/build"} {
		fi, err := os.Stat(filepath.Join(builderDir, bp, f))
		if err != nil {
			t.Fatal(err)
		}
		write("cnb/"+bp+"/"+f, read(filepath.Join(builderDir, bp, f)), fi.Mode().Perm())
	}
	img, err := baseimage.PushRootfs(context.Background(), e.reg+"/builders/static:test", dir, baseimage.Options{
		Insecure: true,
		Config:   baseimage.Config{Env: []string{baseimage.DefaultPath, "CNB_USER_ID=1002", "CNB_GROUP_ID=1002"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img.Ref
}

func TestBuildFromBuilderImage(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t, helloApp, "from-image")
	opts.BuilderDir, opts.LifecycleDir = "", ""
	opts.BuilderImage = pushBuilderImage(t, e)
	opts.RunImage = "" // the image's run.toml names it
	var out bytes.Buffer
	opts.Log = &out
	res, err := cnb.Build(context.Background(), cnb.NamespaceSandbox{}, opts)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "static-site: building as uid 1002 gid 1002") {
		t.Errorf("the builder image's user was not used:\n%s", out.String())
	}
	files := imageFiles(t, pull(t, res.ImageURL))
	if _, ok := files["workspace/public/index.html"]; !ok {
		t.Error("image lacks the app")
	}
	if _, ok := files["cnb/process/web"]; !ok {
		t.Error("image lacks the web process")
	}
}
