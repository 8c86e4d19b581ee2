package configrepo

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/manifest"
)

var testAuthor = Author{Name: "Slipway", Email: "slipway@example.com"}

// remote is a bare repository the tests write to, and the URL a Writer reaches it by.
type remote struct {
	url  string
	bare string // on-disk path, inspected with the git CLI
	opts []Option
}

// backends are the real remotes every behaviour is checked against: engine/gitserver serving
// git http-backend over HTTP and git upload-pack/receive-pack over SSH, and an on-disk bare
// repository through file://.
var backends = []struct {
	name string
	new  func(t *testing.T) remote
}{
	{name: "http", new: func(t *testing.T) remote { return httpRemote(t) }},
	{name: "ssh", new: sshRemote},
	{name: "file", new: func(t *testing.T) remote { return fileRemote(t) }},
}

func httpRemote(t testing.TB, opts ...gitserver.Option) remote {
	t.Helper()
	root := t.TempDir()
	s := gitserver.New(root, opts...)
	if err := s.Init("config", "main"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return remote{url: srv.URL + "/config.git", bare: filepath.Join(root, "config.git")}
}

func fileRemote(t testing.TB) remote {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "config.git")
	gitCLI(t, "", "init", "--bare", "--quiet", "--initial-branch=main", bare)
	return remote{url: "file://" + bare, bare: bare}
}

func (r remote) writer(t testing.TB, opts ...Option) *Writer {
	t.Helper()
	w, err := New(r.url, t.TempDir(), testAuthor, append(slices.Clone(r.opts), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func gitCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func commitCount(t *testing.T, bare, branch string) int {
	t.Helper()
	var n int
	fmt.Sscan(gitCLI(t, bare, "rev-list", "--count", branch), &n)
	return n
}

func treeFiles(t *testing.T, bare, rev string) []string {
	t.Helper()
	out := gitCLI(t, bare, "ls-tree", "-r", "--name-only", rev)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func files(kv ...string) []manifest.File {
	var fs []manifest.File
	for i := 0; i < len(kv); i += 2 {
		fs = append(fs, manifest.File{Path: kv[i], Data: []byte(kv[i+1])})
	}
	return fs
}

func TestCommitLifecycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			r := b.new(t)
			w := r.writer(t)
			change := Change{
				Branch:  "main",
				Dir:     "environments/staging/hello",
				Files:   files("deployment.yaml", "image: hello@sha256:aaa\n", "config/app.yaml", "x: 1\n"),
				Subject: "Deploy hello to staging",
				Trailers: []Trailer{
					{Key: "Source-Commit", Value: "0123456789abcdef"},
					{Key: "Image-Digest", Value: "sha256:aaa"},
					{Key: "Slipway-Delivery", Value: "github-42"},
					{Key: "Slipway-Release", Value: "hello-7"},
				},
			}

			// First commit into an empty repository.
			res, err := w.Commit(ctx, change)
			if err != nil || !res.Created {
				t.Fatalf("first Commit = %+v, %v; want a created commit", res, err)
			}
			if got := gitCLI(t, r.bare, "rev-parse", "main"); got != res.Commit {
				t.Errorf("main = %s, want %s", got, res.Commit)
			}
			if n := commitCount(t, r.bare, "main"); n != 1 {
				t.Errorf("commits = %d, want 1", n)
			}
			wantMsg := "Deploy hello to staging\n\nSource-Commit: 0123456789abcdef\nImage-Digest: sha256:aaa\n" +
				"Slipway-Delivery: github-42\nSlipway-Release: hello-7"
			if got := gitCLI(t, r.bare, "log", "-1", "--format=%B", "main"); got != wantMsg {
				t.Errorf("message =\n%s\nwant\n%s", got, wantMsg)
			}
			// Git itself must parse them as trailers, not just see the text.
			if got := gitCLI(t, r.bare, "log", "-1", "--format=%(trailers:key=Slipway-Delivery,valueonly)", "main"); got != "github-42" {
				t.Errorf("git-parsed Slipway-Delivery trailer = %q, want github-42", got)
			}
			if got := gitCLI(t, r.bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"); got != "Slipway <slipway@example.com>|Slipway <slipway@example.com>" {
				t.Errorf("author|committer = %q", got)
			}

			// Another directory written by someone else must survive every later change.
			other := change
			other.Dir, other.Files, other.Subject = "environments/production/hello", files("deployment.yaml", "prod\n"), "Deploy hello to production"
			if _, err := w.Commit(ctx, other); err != nil {
				t.Fatalf("Commit other dir: %v", err)
			}

			// Update one file.
			change.Files = files("deployment.yaml", "image: hello@sha256:bbb\n", "config/app.yaml", "x: 1\n")
			res, err = w.Commit(ctx, change)
			if err != nil || !res.Created {
				t.Fatalf("update Commit = %+v, %v", res, err)
			}
			if got := gitCLI(t, r.bare, "show", "main:environments/staging/hello/deployment.yaml"); got != "image: hello@sha256:bbb" {
				t.Errorf("deployment.yaml = %q after update", got)
			}

			// Identical content: no commit, the sentinel, and the tip that holds it.
			before := commitCount(t, r.bare, "main")
			res, err = w.Commit(ctx, change)
			if !errors.Is(err, ErrNoChanges) || res.Created || res.Commit != gitCLI(t, r.bare, "rev-parse", "main") {
				t.Fatalf("identical Commit = %+v, %v; want ErrNoChanges naming the tip", res, err)
			}
			if n := commitCount(t, r.bare, "main"); n != before {
				t.Errorf("identical content made a commit: %d -> %d", before, n)
			}

			// A file left out of Files is deleted, and so is its now-empty directory.
			change.Files = files("deployment.yaml", "image: hello@sha256:bbb\n")
			if _, err := w.Commit(ctx, change); err != nil {
				t.Fatalf("Commit removing a file: %v", err)
			}
			want := []string{"environments/production/hello/deployment.yaml", "environments/staging/hello/deployment.yaml"}
			if got := treeFiles(t, r.bare, "main"); !slices.Equal(got, want) {
				t.Errorf("tree = %v, want %v", got, want)
			}

			// Empty Files deletes the directory.
			change.Files = nil
			if _, err := w.Commit(ctx, change); err != nil {
				t.Fatalf("Commit deleting the dir: %v", err)
			}
			if got := treeFiles(t, r.bare, "main"); !slices.Equal(got, want[:1]) {
				t.Errorf("tree = %v, want %v", got, want[:1])
			}
			gitCLI(t, r.bare, "fsck", "--strict", "--no-dangling")
		})
	}
}

func TestRedoAfterCrashMakesNoSecondCommit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := b.new(t)
			change := Change{Branch: "main", Dir: "apps/hello", Files: files("a.yaml", "a\n"), Subject: "Deploy hello",
				Trailers: []Trailer{{Key: "Slipway-Delivery", Value: "d-1"}}}
			if _, err := r.writer(t).Commit(t.Context(), change); err != nil {
				t.Fatal(err)
			}
			// Someone else commits in between; then a restarted process (fresh cache) redoes it.
			if _, err := r.writer(t).Commit(t.Context(), Change{Branch: "main", Dir: "apps/other", Files: files("b.yaml", "b\n"), Subject: "Deploy other"}); err != nil {
				t.Fatal(err)
			}
			res, err := r.writer(t).Commit(t.Context(), change)
			if !errors.Is(err, ErrNoChanges) || res.Created {
				t.Fatalf("redo = %+v, %v; want ErrNoChanges", res, err)
			}
			if n := commitCount(t, r.bare, "main"); n != 2 {
				t.Errorf("commits = %d, want 2", n)
			}
		})
	}
}

// TestConcurrentWriters runs 50 writers, each its own Writer with its own cache, as if in 50
// processes: their pushes really race, most are rejected as non-fast-forward at first, and
// every one must still land exactly once.
func TestConcurrentWriters(t *testing.T) {
	const writers = 50
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := b.new(t)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			ws := make([]*Writer, writers)
			for i := range ws {
				ws[i] = r.writer(t)
			}
			start := time.Now()
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i, w := range ws {
				wg.Go(func() {
					_, errs[i] = w.Commit(ctx, Change{
						Branch:   "main",
						Dir:      fmt.Sprintf("environments/staging/app-%02d", i),
						Files:    files("deployment.yaml", fmt.Sprintf("app: %d\n", i)),
						Subject:  fmt.Sprintf("Deploy app-%02d", i),
						Trailers: []Trailer{{Key: "Slipway-Delivery", Value: fmt.Sprintf("d-%d", i)}},
					})
				})
			}
			wg.Wait()
			t.Logf("%d concurrent writers over %s: %v", writers, b.name, time.Since(start))
			for i, err := range errs {
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}
			if n := commitCount(t, r.bare, "main"); n != writers {
				t.Errorf("commits on main = %d, want %d", n, writers)
			}
			tree := treeFiles(t, r.bare, "main")
			for i := range writers {
				p := fmt.Sprintf("environments/staging/app-%02d/deployment.yaml", i)
				if !slices.Contains(tree, p) {
					t.Errorf("%s missing at the tip", p)
				}
			}
			if got := gitCLI(t, r.bare, "rev-list", "--merges", "--count", "main"); got != "0" {
				t.Errorf("history has %s merge commits, want a linear history", got)
			}
		})
	}
}

// TestOneWriterManyGoroutines covers the in-process path: writes to one branch through one
// Writer are serialized by its branch lock and never need a retry.
func TestOneWriterManyGoroutines(t *testing.T) {
	r := httpRemote(t)
	w := r.writer(t, WithRetry(1, time.Millisecond, time.Millisecond))
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = w.Commit(t.Context(), Change{Branch: "main", Dir: fmt.Sprintf("apps/a%d", i), Files: files("f", "x"), Subject: "s"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if n := commitCount(t, r.bare, "main"); n != len(errs) {
		t.Errorf("commits = %d, want %d", n, len(errs))
	}
}

func TestRejectsBadChange(t *testing.T) {
	r := fileRemote(t)
	w := r.writer(t)
	ok := Change{Branch: "main", Dir: "environments/staging/hello", Files: files("a.yaml", "a"), Subject: "s"}
	for _, tc := range []struct {
		name   string
		edit   func(c *Change)
		naming string // the error must name this
	}{
		{"empty dir", func(c *Change) { c.Dir = "" }, `dir ""`},
		{"root dir", func(c *Change) { c.Dir = "." }, `dir "."`},
		{"absolute dir", func(c *Change) { c.Dir = "/etc" }, `"/etc"`},
		{"escaping dir", func(c *Change) { c.Dir = "../other" }, `"../other"`},
		{"unclean dir", func(c *Change) { c.Dir = "apps/../../x" }, `"apps/../../x"`},
		{"trailing slash dir", func(c *Change) { c.Dir = "apps/hello/" }, `"apps/hello/"`},
		{"backslash dir", func(c *Change) { c.Dir = `apps\hello` }, `"apps\\hello"`},
		{"dot git dir", func(c *Change) { c.Dir = "apps/.git/hooks" }, `"apps/.git/hooks"`},
		{"escaping file", func(c *Change) { c.Files = files("../../x.yaml", "x") }, `"../../x.yaml"`},
		{"absolute file", func(c *Change) { c.Files = files("/etc/passwd", "x") }, `"/etc/passwd"`},
		{"empty file path", func(c *Change) { c.Files = files("", "x") }, "empty path"},
		{"dot git file", func(c *Change) { c.Files = files(".git/config", "x") }, `".git/config"`},
		{"duplicate file", func(c *Change) { c.Files = files("a.yaml", "1", "a.yaml", "2") }, `"a.yaml": listed twice`},
		{"file and dir", func(c *Change) { c.Files = files("a", "1", "a/b", "2") }, `"a/b"`},
		{"bad branch", func(c *Change) { c.Branch = "main..x" }, `"main..x"`},
		{"refspec branch", func(c *Change) { c.Branch = "a:b" }, `"a:b"`},
		{"empty subject", func(c *Change) { c.Subject = "" }, "subject"},
		{"two-line subject", func(c *Change) { c.Subject = "a\nb" }, "subject"},
		{"bad trailer key", func(c *Change) { c.Trailers = []Trailer{{Key: "Bad Key", Value: "v"}} }, `"Bad Key"`},
		{"multi-line trailer", func(c *Change) { c.Trailers = []Trailer{{Key: "K", Value: "a\nb"}} }, `"K"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Files = slices.Clone(ok.Files)
			tc.edit(&c)
			_, err := w.Commit(t.Context(), c)
			if err == nil {
				t.Fatal("Commit succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.naming) {
				t.Errorf("error %q does not name %s", err, tc.naming)
			}
		})
	}
	if out := gitCLI(t, r.bare, "for-each-ref"); out != "" {
		t.Errorf("a rejected change reached the remote: %s", out)
	}
}

func TestRefusesToReplaceAFile(t *testing.T) {
	r := httpRemote(t)
	w := r.writer(t)
	if _, err := w.Commit(t.Context(), Change{Branch: "main", Dir: "apps", Files: files("hello", "a file"), Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	_, err := w.Commit(t.Context(), Change{Branch: "main", Dir: "apps/hello/staging", Files: files("a", "a"), Subject: "s"})
	if err == nil || !strings.Contains(err.Error(), `"apps/hello" is not a directory`) {
		t.Fatalf("Commit over a file = %v, want an error naming apps/hello", err)
	}
}

func TestReadAndHead(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			r := b.new(t)
			w := r.writer(t)
			if _, err := w.Head(ctx, "main"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Head of empty repo: %v, want ErrNotFound", err)
			}
			if _, _, err := w.Read(ctx, "main", "apps/hello"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Read of empty repo: %v, want ErrNotFound", err)
			}
			want := files("b.yaml", "b\n", "a/deep/x.yaml", "x\n", "a.yaml", "a\n")
			res, err := w.Commit(ctx, Change{Branch: "main", Dir: "apps/hello", Files: want, Subject: "s"})
			if err != nil {
				t.Fatal(err)
			}
			// A second writer reads, as the syncer would from another process.
			reader := r.writer(t)
			rev, got, err := reader.Read(ctx, "main", "apps/hello")
			if err != nil {
				t.Fatal(err)
			}
			if rev != res.Commit {
				t.Errorf("revision = %s, want %s", rev, res.Commit)
			}
			slices.SortFunc(want, func(a, b manifest.File) int { return strings.Compare(a.Path, b.Path) })
			if len(got) != len(want) {
				t.Fatalf("Read = %d files, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Path != want[i].Path || string(got[i].Data) != string(want[i].Data) {
					t.Errorf("file %d = %s %q, want %s %q", i, got[i].Path, got[i].Data, want[i].Path, want[i].Data)
				}
			}
			if head, err := reader.Head(ctx, "main"); err != nil || head != res.Commit {
				t.Errorf("Head = %s, %v; want %s", head, err, res.Commit)
			}
			if _, _, err := reader.Read(ctx, "main", "apps/absent"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Read of a missing dir: %v, want ErrNotFound", err)
			}
			if _, err := reader.Head(ctx, "other"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Head of a missing branch: %v, want ErrNotFound", err)
			}

			// The branch moves (written by someone else); Read follows it.
			if _, err := w.Commit(ctx, Change{Branch: "main", Dir: "apps/hello", Files: files("only.yaml", "1"), Subject: "s"}); err != nil {
				t.Fatal(err)
			}
			_, got, err = reader.Read(ctx, "main", "apps/hello")
			if err != nil || len(got) != 1 || got[0].Path != "only.yaml" {
				t.Errorf("Read after update = %v, %v; want only.yaml", got, err)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	const user, pass = "slipway", "hunter2-very-secret"
	r := httpRemote(t, gitserver.WithBasicAuth(user, pass))
	change := Change{Branch: "main", Dir: "apps/hello", Files: files("a", "a"), Subject: "s"}

	if _, err := r.writer(t, WithBasicAuth(user, pass)).Commit(t.Context(), change); err != nil {
		t.Fatalf("Commit with the right credentials: %v", err)
	}

	start := time.Now()
	_, err := r.writer(t, WithBasicAuth(user, "wrong-"+pass)).Commit(t.Context(), change)
	if err == nil {
		t.Fatal("Commit with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), pass) {
		t.Errorf("error leaks the password: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("an authentication failure took %v: it must not be retried", time.Since(start))
	}

	if _, err := New("https://"+user+":"+pass+"@git.example.com/config.git", t.TempDir(), testAuthor); err == nil ||
		strings.Contains(err.Error(), pass) {
		t.Errorf("New with a password in the URL = %v, want an error without the password", err)
	}
}

func TestGivesUpWithErrConflict(t *testing.T) {
	r := fileRemote(t)
	w := r.writer(t, WithRetry(3, time.Millisecond, time.Millisecond))
	// Every attempt loses the race: w.now runs between the fetch and the push, and a rival
	// commits there.
	rival := r.writer(t)
	n := 0
	w.now = func() time.Time {
		n++
		if _, err := rival.Commit(t.Context(), Change{Branch: "main", Dir: "apps/rival", Files: files("n", fmt.Sprint(n)), Subject: "rival"}); err != nil {
			t.Errorf("rival commit: %v", err)
		}
		return time.Now()
	}
	_, err := w.Commit(t.Context(), Change{Branch: "main", Dir: "apps/hello", Files: files("a", "a"), Subject: "s"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Commit = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "3 attempts") || !strings.Contains(err.Error(), `"apps/hello"`) {
		t.Errorf("error %q should name the dir and the bound", err)
	}
	if n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
}
