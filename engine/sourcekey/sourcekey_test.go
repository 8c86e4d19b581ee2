package sourcekey_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/sourcekey"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// commit writes files into repo, commits them, and returns a depth-1 clone of that commit, the
// way the git-clone task checks out a run's commit.
func commit(t *testing.T, repo string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		write(t, repo, name, content)
	}
	run(t, repo, "add", "-A")
	run(t, repo, "commit", "-q", "--allow-empty", "-m", "change")
	clone := t.TempDir()
	run(t, clone, "clone", "-q", "--depth=1", "file://"+repo, ".")
	return clone
}

var settings = map[string]string{"strategy": "ko", "go-package": ".", "base-image": "reg/base@sha256:" + strings.Repeat("a", 64)}

func with(k, v string) map[string]string {
	m := map[string]string{}
	for a, b := range settings {
		m[a] = b
	}
	m[k] = v
	return m
}

func TestKey(t *testing.T) {
	repo := t.TempDir()
	run(t, repo, "init", "-q")
	first := commit(t, repo, map[string]string{"app/main.go": "package main\n", "app/go.mod": "module x\n", "README.md": "v1\n"})
	outside := commit(t, repo, map[string]string{"README.md": "v2\n", "other/x.txt": "x\n"})
	inside := commit(t, repo, map[string]string{"app/main.go": "package main // changed\n"})

	key := func(t *testing.T, checkout string, s map[string]string) sourcekey.Key {
		t.Helper()
		tree, err := sourcekey.Tree(t.Context(), checkout, "app")
		if err != nil {
			t.Fatal(err)
		}
		k, err := sourcekey.Compute(tree, s)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(t, first, settings)
	// A file the build task writes into the checkout is not part of the commit's tree.
	write(t, first, "app/.slipway/image", "reg/app@sha256:"+strings.Repeat("b", 64))
	for _, tc := range []struct {
		name     string
		checkout string
		settings map[string]string
		same     bool
	}{
		{name: "same tree and settings", checkout: first, settings: settings, same: true},
		{name: "change outside the path", checkout: outside, settings: settings, same: true},
		{name: "change inside the path", checkout: inside, settings: settings},
		{name: "other strategy", checkout: first, settings: with("strategy", "dockerfile")},
		{name: "other base image", checkout: first, settings: with("base-image", "reg/base@sha256:"+strings.Repeat("c", 64))},
		{name: "other go package", checkout: first, settings: with("go-package", "./cmd/x")},
		{name: "setting added", checkout: first, settings: with("builder", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := key(t, tc.checkout, tc.settings)
			if (got == base) != tc.same {
				t.Errorf("key %s vs first commit's %s: same = %v, want %v", got, base, got == base, tc.same)
			}
			if !strings.HasPrefix(got.Tag(), "src-") || len(got.Tag()) != 4+32 {
				t.Errorf("tag %q, want src- and 32 hex digits", got.Tag())
			}
		})
	}
}

func TestTreeRoot(t *testing.T) {
	repo := t.TempDir()
	run(t, repo, "init", "-q")
	c := commit(t, repo, map[string]string{"main.go": "package main\n"})
	want := run(t, c, "rev-parse", "HEAD^{tree}")
	for _, p := range []string{".", "", "./"} {
		got, err := sourcekey.Tree(t.Context(), c, p)
		if err != nil || got != want {
			t.Errorf("Tree(%q) = %q, %v; want %s", p, got, err, want)
		}
	}
}

func TestTreeErrors(t *testing.T) {
	repo := t.TempDir()
	run(t, repo, "init", "-q")
	c := commit(t, repo, map[string]string{"app/main.go": "package main\n"})
	for _, tc := range []struct{ name, checkout, path, want string }{
		{name: "missing directory", checkout: c, path: "nope", want: "no such directory"},
		{name: "a file", checkout: c, path: "app/main.go", want: "not a directory"},
		{name: "leaves the repository", checkout: c, path: "../x", want: "must not leave"},
		{name: "absolute", checkout: c, path: "/app", want: "relative"},
		{name: "not a checkout", checkout: t.TempDir(), path: "app", want: "git ls-tree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sourcekey.Tree(t.Context(), tc.checkout, tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(tc.want, "directory") && !errors.Is(err, sourcekey.ErrNoPath) {
				t.Errorf("err = %v, want ErrNoPath", err)
			}
		})
	}
}

func TestComputeRejects(t *testing.T) {
	tree := strings.Repeat("a", 40)
	if _, err := sourcekey.Compute("HEAD", nil); err == nil || !strings.Contains(err.Error(), "HEAD") {
		t.Errorf("bad tree: err = %v", err)
	}
	if _, err := sourcekey.Compute(tree, map[string]string{"Bad Name": "x"}); err == nil || !strings.Contains(err.Error(), "Bad Name") {
		t.Errorf("bad setting: err = %v", err)
	}
	// Values are length-prefixed: moving text from one setting to the next changes the key.
	a, _ := sourcekey.Compute(tree, map[string]string{"a": "x\n1:b", "b": ""})
	b, _ := sourcekey.Compute(tree, map[string]string{"a": "x", "b": "b"})
	if a == b {
		t.Error("keys of different settings collide")
	}
}
