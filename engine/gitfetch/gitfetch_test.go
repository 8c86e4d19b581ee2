package gitfetch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/gitfetch"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestFetchExactCommit(t *testing.T) {
	src := t.TempDir()
	run(t, src, "init", "-q", "-b", "main")
	run(t, src, "config", "uploadpack.allowReachableSHA1InWant", "true")
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("one"), 0o644)
	run(t, src, "add", ".")
	run(t, src, "commit", "-qm", "one")
	first := run(t, src, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("two"), 0o644)
	run(t, src, "commit", "-qam", "two")

	dst := filepath.Join(t.TempDir(), "out")
	got, err := gitfetch.Fetch(context.Background(), gitfetch.Options{URL: "file://" + src, Revision: first, Dir: dst})
	if err != nil {
		t.Fatal(err)
	}
	if got != first {
		t.Fatalf("commit = %s, want %s", got, first)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "one" {
		t.Fatalf("a.txt = %q, want the first commit's content", b)
	}
	// A retry into the same directory succeeds.
	if _, err := gitfetch.Fetch(context.Background(), gitfetch.Options{URL: "file://" + src, Revision: first, Dir: dst}); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestValidate(t *testing.T) {
	sha := strings.Repeat("a", 40)
	for _, tc := range []struct {
		name string
		o    gitfetch.Options
		want string
	}{
		{"empty url", gitfetch.Options{Revision: sha, Dir: "x"}, "url: empty"},
		{"not a url", gitfetch.Options{URL: "nope", Revision: sha, Dir: "x"}, "not a clone URL"},
		{"branch instead of sha", gitfetch.Options{URL: "https://h/r.git", Revision: "main", Dir: "x"}, "full commit SHA"},
		{"no dir", gitfetch.Options{URL: "https://h/r.git", Revision: sha}, "dir: empty"},
		{"credentials redacted", gitfetch.Options{URL: "https://user:tok@", Revision: sha, Dir: "x"}, "***@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "tok") {
				t.Fatalf("error leaks a credential: %v", err)
			}
		})
	}
}
