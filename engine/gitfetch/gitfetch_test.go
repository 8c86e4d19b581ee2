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
		{"branch instead of sha", gitfetch.Options{URL: "https://h/r.git", Revision: "main", Dir: "x"}, "must be a commit SHA"},
		{"upper-case sha", gitfetch.Options{URL: "https://h/r.git", Revision: strings.Repeat("A", 40), Dir: "x"}, "must be a commit SHA"},
		{"abbreviated sha without ref", gitfetch.Options{URL: "https://h/r.git", Revision: "abcdef123456", Dir: "x"}, "needs the ref"},
		{"ref not a full ref", gitfetch.Options{URL: "https://h/r.git", Revision: "abcdef123456", Ref: "main", Dir: "x"}, "must be a full ref"},
		{"ref with an option", gitfetch.Options{URL: "https://h/r.git", Revision: sha, Ref: "refs/heads/a..b", Dir: "x"}, "must be a full ref"},
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

// source makes a repository with two commits on main and an annotated tag on the first, and
// returns its path and the two commits.
func source(t *testing.T, allowSHA bool) (dir, first, second string) {
	t.Helper()
	dir = t.TempDir()
	run(t, dir, "init", "-q", "-b", "main")
	run(t, dir, "config", "uploadpack.allowReachableSHA1InWant", map[bool]string{true: "true", false: "false"}[allowSHA])
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one"), 0o644)
	run(t, dir, "add", ".")
	run(t, dir, "commit", "-qm", "one")
	first = run(t, dir, "rev-parse", "HEAD")
	run(t, dir, "tag", "-a", "v1", "-m", "release one")
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("two"), 0o644)
	run(t, dir, "commit", "-qam", "two")
	return dir, first, run(t, dir, "rev-parse", "HEAD")
}

func TestFetchResolves(t *testing.T) {
	src, first, second := source(t, true)
	tagObject := run(t, src, "rev-parse", "v1")
	if tagObject == first {
		t.Fatal("test setup: v1 is not an annotated tag")
	}
	strict, strictFirst, _ := source(t, false)
	for _, tc := range []struct {
		name     string
		url      string
		revision string
		ref      string
		v0       bool // protocol v0, where servers serve only advertised refs unless configured
		want     string
		content  string
		wantErr  string
	}{
		{name: "annotated tag object is peeled to its commit", url: src, revision: tagObject, ref: "refs/tags/v1", want: first, content: "one"},
		{name: "annotated tag object without a ref", url: src, revision: tagObject, want: first, content: "one"},
		{name: "abbreviated sha along the branch", url: src, revision: first[:12], ref: "refs/heads/main", want: first, content: "one"},
		{name: "abbreviated sha of the tip", url: src, revision: second[:7], ref: "refs/heads/main", want: second, content: "two"},
		{name: "server refusing unadvertised shas falls back to the ref", url: strict, revision: strictFirst, ref: "refs/heads/main", v0: true, want: strictFirst, content: "one"},
		{name: "server refusing unadvertised shas, no ref", url: strict, revision: strictFirst, v0: true, wantErr: "not allow request for unadvertised object"},
		{name: "abbreviated sha not on the ref", url: src, revision: "0000000abc", ref: "refs/heads/main", wantErr: "is not a commit among the last 50 of refs/heads/main"},
		{name: "missing ref", url: src, revision: first[:12], ref: "refs/heads/gone", wantErr: "couldn't find remote ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v0 {
				t.Setenv("GIT_CONFIG_COUNT", "1")
				t.Setenv("GIT_CONFIG_KEY_0", "protocol.version")
				t.Setenv("GIT_CONFIG_VALUE_0", "0")
			}
			dst := filepath.Join(t.TempDir(), "out")
			got, err := gitfetch.Fetch(t.Context(), gitfetch.Options{URL: "file://" + tc.url, Revision: tc.revision, Ref: tc.ref, Dir: dst})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("commit = %s, want %s", got, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != tc.content {
				t.Fatalf("a.txt = %q, want %q", b, tc.content)
			}
		})
	}
}
