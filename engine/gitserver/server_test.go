package gitserver

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// gitCmd runs the git CLI isolated from the host's configuration and returns its output.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runGit(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

type pushes struct {
	mu    sync.Mutex
	repos []string
}

func (p *pushes) hook(repo string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repos = append(p.repos, repo)
}

func (p *pushes) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.repos...)
}

func TestInitIsIdempotent(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	for range 2 {
		if err := s.Init("team/config", "main"); err != nil {
			t.Fatalf("Init: %v", err)
		}
	}
	dir := filepath.Join(root, "team", "config.git")
	if got := gitCmd(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("HEAD = %q, want refs/heads/main", got)
	}
	if got := gitCmd(t, dir, "config", "http.receivepack"); got != "true" {
		t.Errorf("http.receivepack = %q, want true", got)
	}
	if err := s.Init("team/config.git", "other"); err != nil {
		t.Fatalf("Init with .git suffix: %v", err)
	}
	if got := gitCmd(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("second Init changed HEAD to %q", got)
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, "team", ".init-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary directories left behind: %v", leftovers)
	}
}

func TestInitRejectsBadNames(t *testing.T) {
	s := New(t.TempDir())
	for _, tc := range []struct{ name, repo, branch string }{
		{name: "empty", repo: "", branch: "main"},
		{name: "parent", repo: "../escape", branch: "main"},
		{name: "inner parent", repo: "a/../../b", branch: "main"},
		{name: "hidden", repo: ".hidden", branch: "main"},
		{name: "absolute", repo: "/etc/x", branch: "main"},
		{name: "double slash", repo: "a//b", branch: "main"},
		{name: "backslash", repo: `a\b`, branch: "main"},
		{name: "space", repo: "a b", branch: "main"},
		{name: "nested .git", repo: "a.git/b", branch: "main"},
		{name: "bad branch", repo: "ok", branch: "a..b"},
		{name: "option branch", repo: "ok", branch: "--bare"},
		{name: "empty branch", repo: "ok", branch: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Init(tc.repo, tc.branch); err == nil {
				t.Errorf("Init(%q, %q) succeeded, want an error", tc.repo, tc.branch)
			}
		})
	}
}

func TestCloneAndPush(t *testing.T) {
	root := t.TempDir()
	var seen pushes
	s := New(root, WithPushHook(seen.hook))
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	remote := srv.URL + "/config.git"

	work := t.TempDir()
	gitCmd(t, work, "clone", "--quiet", remote, "a")
	a := filepath.Join(work, "a")
	if err := os.WriteFile(filepath.Join(a, "app.yaml"), []byte("kind: Deployment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, a, "add", ".")
	gitCmd(t, a, "commit", "--quiet", "-m", "first")
	gitCmd(t, a, "push", "--quiet", "origin", "HEAD:main")

	// A pack over 1 MiB makes the git CLI send a chunked body, which CGI cannot take directly.
	big := make([]byte, 3<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, a, "add", ".")
	gitCmd(t, a, "commit", "--quiet", "-m", "big")
	gitCmd(t, a, "push", "--quiet", "origin", "HEAD:main")
	want := gitCmd(t, a, "rev-parse", "HEAD")

	for _, proto := range []string{"0", "2"} {
		dst := "b" + proto
		gitCmd(t, work, "-c", "protocol.version="+proto, "clone", "--quiet", remote, dst)
		if got := gitCmd(t, filepath.Join(work, dst), "rev-parse", "HEAD"); got != want {
			t.Errorf("protocol v%s clone HEAD = %s, want %s", proto, got, want)
		}
	}
	if got := seen.list(); len(got) != 2 || got[0] != "config" || got[1] != "config" {
		t.Errorf("push hook calls = %v, want [config config] (one per push, none per clone)", got)
	}
}

func TestRefusesRewritingHistory(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	work := t.TempDir()
	gitCmd(t, work, "clone", "--quiet", srv.URL+"/config.git", "a")
	a := filepath.Join(work, "a")
	gitCmd(t, a, "commit", "--quiet", "--allow-empty", "-m", "one")
	gitCmd(t, a, "commit", "--quiet", "--allow-empty", "-m", "two")
	gitCmd(t, a, "push", "--quiet", "origin", "HEAD:main")
	gitCmd(t, a, "reset", "--quiet", "--hard", "HEAD~1")
	if out, err := runGit(t, a, "push", "--force", "origin", "HEAD:main"); err == nil {
		t.Fatalf("force push succeeded, want it refused:\n%s", out)
	}
}

func TestBasicAuth(t *testing.T) {
	root := t.TempDir()
	s := New(root, WithBasicAuth("slipway", "s3cret"))
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	refs := srv.URL + "/config.git/info/refs?service=git-upload-pack"

	for _, tc := range []struct {
		name, user, pass string
		want             int
	}{
		{name: "none", want: http.StatusUnauthorized},
		{name: "wrong password", user: "slipway", pass: "nope", want: http.StatusUnauthorized},
		{name: "wrong user", user: "other", pass: "s3cret", want: http.StatusUnauthorized},
		{name: "right", user: "slipway", pass: "s3cret", want: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, refs, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	u, _ := url.Parse(srv.URL + "/config.git")
	u.User = url.UserPassword("slipway", "s3cret")
	work := t.TempDir()
	gitCmd(t, work, "clone", "--quiet", u.String(), "a")
	a := filepath.Join(work, "a")
	gitCmd(t, a, "commit", "--quiet", "--allow-empty", "-m", "authenticated")
	gitCmd(t, a, "push", "--quiet", "origin", "HEAD:main")
}

func TestRejectsOtherPaths(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	// A file outside any repository that traversal would reach.
	if err := os.WriteFile(filepath.Join(root, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, target string
		want                 int
	}{
		{"traversal", http.MethodGet, "/../config.git/info/refs?service=git-upload-pack", http.StatusNotFound},
		{"encoded traversal", http.MethodGet, "/%2e%2e/config.git/info/refs?service=git-upload-pack", http.StatusNotFound},
		{"hidden", http.MethodGet, "/.init-x.git/info/refs?service=git-upload-pack", http.StatusNotFound},
		{"missing repository", http.MethodGet, "/absent.git/info/refs?service=git-upload-pack", http.StatusNotFound},
		{"not a repository path", http.MethodGet, "/secret", http.StatusNotFound},
		{"dumb protocol refs", http.MethodGet, "/config.git/info/refs", http.StatusForbidden},
		{"unknown service", http.MethodGet, "/config.git/info/refs?service=git-shell", http.StatusForbidden},
		{"raw object path", http.MethodGet, "/config.git/HEAD", http.StatusNotFound},
		{"config file", http.MethodGet, "/config.git/config", http.StatusNotFound},
		{"GET on rpc", http.MethodGet, "/config.git/git-receive-pack", http.StatusMethodNotAllowed},
		{"POST on refs", http.MethodPost, "/config.git/info/refs?service=git-upload-pack", http.StatusMethodNotAllowed},
		{"smart refs", http.MethodGet, "/config.git/info/refs?service=git-upload-pack", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://git.test/", nil)
			req.URL.Path, req.URL.RawQuery, _ = strings.Cut(tc.target, "?")
			if p, err := url.PathUnescape(req.URL.Path); err == nil {
				req.URL.Path = p
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%s %s = %d, want %d (%s)", tc.method, tc.target, rec.Code, tc.want, rec.Body)
			}
		})
	}
}

func TestRequestBodyCap(t *testing.T) {
	root := t.TempDir()
	s := New(root, WithMaxRequestBytes(1024))
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/config.git/git-receive-pack", strings.NewReader(strings.Repeat("x", 2048)))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
}
