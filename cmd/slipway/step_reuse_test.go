package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/registry"
)

// checkout commits files into a new repository and returns a depth-1 clone of the commit.
func checkout(t *testing.T, files map[string]string) string {
	t.Helper()
	repo, clone := t.TempDir(), t.TempDir()
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(repo, "init", "-q")
	for n, c := range files {
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(repo, "add", "-A")
	git(repo, "commit", "-q", "-m", "source")
	git(clone, "clone", "-q", "--depth=1", "file://"+repo, ".")
	return clone
}

// TestReuseImageStep runs reuse-image and read-image the way the deploy pipeline does, against
// a real registry: the first run finds nothing and builds; read-image tags the build; a run from
// another commit with the same app directory reuses it, and a changed setting does not.
func TestReuseImageStep(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	reg, err := registry.Start(ctx, registry.Options{Dir: filepath.Join(dir, "registry"), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.WithoutCancel(ctx)) })
	repo := reg.Host() + "/apps/ns/hello"
	res := func(n string) string { return filepath.Join(dir, n) }
	read := func(n string) string { b, _ := os.ReadFile(res(n)); return string(b) }

	reuse := func(t *testing.T, ws string, settings ...string) (string, error) {
		t.Helper()
		args := []string{"step", "reuse-image", "--workspace", ws, "--path", "app", "--image", repo,
			"--insecure-registry", "true", "--record", ".slipway/image",
			"--reused-file", res("reused"), "--source-key-file", res("key"), "--tag-file", res("tag")}
		return run(append(args, settings...)...)
	}

	first := checkout(t, map[string]string{"app/main.go": "package main\n", "README.md": "one\n"})
	if out, err := reuse(t, first, "strategy=ko"); err != nil || read("reused") != "false" {
		t.Fatalf("first run: reused %q, err %v\n%s", read("reused"), err, out)
	}
	if _, err := os.Stat(filepath.Join(first, ".slipway/image")); !os.IsNotExist(err) {
		t.Fatalf("a run that reused nothing wrote a record (stat: %v)", err)
	}
	tag, key := read("tag"), read("key")
	if tag != "src-"+key[:32] {
		t.Fatalf("tag %q, key %q", tag, key)
	}

	// The build pushes and records; read-image tags.
	built := pushDebianImage(t, repo, "1.0")
	recordFile := filepath.Join(first, ".slipway/image")
	if err := os.MkdirAll(filepath.Dir(recordFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recordFile, []byte(built+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second time is the reused run's read-image: a no-op
		if out, err := run("step", "read-image", "--record", recordFile, "--tag", tag, "--insecure-registry", "true",
			"--image-url-file", res("url")); err != nil || read("url") != built {
			t.Fatalf("read-image #%d: url %q, err %v\n%s", i+1, read("url"), err, out)
		}
	}

	second := checkout(t, map[string]string{"app/main.go": "package main\n", "README.md": "two\n"})
	out, err := reuse(t, second, "strategy=ko")
	if err != nil || read("reused") != "true" || read("key") != key {
		t.Fatalf("second run: reused %q key %q (first %q), err %v\n%s", read("reused"), read("key"), key, err, out)
	}
	if rec, _ := os.ReadFile(filepath.Join(second, ".slipway/image")); strings.TrimSpace(string(rec)) != built {
		t.Errorf("record = %q, want %s", rec, built)
	}

	if out, err := reuse(t, second, "strategy=dockerfile"); err != nil || read("reused") != "false" {
		t.Errorf("changed setting: reused %q, err %v\n%s", read("reused"), err, out)
	}

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"no image", []string{"--workspace", first, "--record", "r"}, "--image"},
			{"record outside", []string{"--workspace", first, "--image", repo, "--record", "../r"}, "inside the workspace"},
			{"bad setting", []string{"--workspace", first, "--image", repo, "strategy"}, "NAME=VALUE"},
			{"missing path", []string{"--workspace", first, "--image", repo, "--path", "nope"}, "no such directory"},
			{"bad insecure", []string{"--workspace", first, "--image", repo, "--insecure-registry", "yes"}, "true or false"},
			{"registry down", []string{"--workspace", first, "--path", "app", "--image", "127.0.0.1:1/app", "--insecure-registry", "true"}, "could not say"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, err := run(append([]string{"step", "reuse-image"}, tc.args...)...)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want one containing %q\n%s", err, tc.want, out)
				}
			})
		}
	})
}
