// Package gitserver serves bare Git repositories over smart HTTP and over SSH with the real git.
//
// It backs the local mode's config repository and the tests of everything that talks Git.
// It does not implement the protocol itself: every HTTP request is handed to `git http-backend`
// through CGI, and every SSH exec request runs `git upload-pack` or `git receive-pack`, so
// clients see exactly what a production Git server would answer.
package gitserver

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

const (
	serviceUploadPack  = "git-upload-pack"
	serviceReceivePack = "git-receive-pack"
)

// Server is an http.Handler serving /<name>.git/... for the bare repositories under its root.
// Only the smart protocol is served (info/refs with a service, git-upload-pack and
// git-receive-pack). The caller owns the http.Server and its timeouts.
type Server struct {
	root     string
	gitPath  string
	pushHook func(repo string)
	user     string
	pass     string
	hasAuth  bool
	maxBody  int64
	log      *slog.Logger
	initLock sync.Mutex
}

// Option configures optional behaviour of a Server.
type Option func(*Server)

// WithPushHook sets a function called with the repository name after each successful POST to
// git-receive-pack. It runs on the request's goroutine before the response completes, so it
// must only nudge (for example a non-blocking channel send). A push whose ref updates the
// server refused still answers 200 and so still calls the hook: treat it as "look again".
func WithPushHook(hook func(repo string)) Option {
	return func(s *Server) { s.pushHook = hook }
}

// WithBasicAuth requires HTTP basic authentication with this username and password on every
// request. Credentials are compared in constant time and never logged.
func WithBasicAuth(username, password string) Option {
	return func(s *Server) { s.user, s.pass, s.hasAuth = username, password, true }
}

// WithMaxRequestBytes caps the size of a request body (a pushed pack); the default is 512 MiB.
func WithMaxRequestBytes(n int64) Option {
	return func(s *Server) { s.maxBody = n }
}

// WithGitPath sets the git binary; the default is "git" looked up in PATH.
func WithGitPath(path string) Option {
	return func(s *Server) { s.gitPath = path }
}

// WithLogger sets the logger for failures and the backend's stderr.
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// New returns a Server for the bare repositories under root.
func New(root string, opts ...Option) *Server {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs // git http-backend wants an absolute GIT_PROJECT_ROOT
	}
	s := &Server{
		root:    root,
		gitPath: "git",
		maxBody: 512 << 20,
		log:     slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	// CGI runs the binary by path, not through a PATH lookup.
	if p, err := exec.LookPath(s.gitPath); err == nil {
		s.gitPath = p
	}
	return s
}

// segment is one component of a repository name: it cannot start with '.', so "." and ".."
// (and hidden directories such as the ones Init works in) are never addressable.
var segment = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// repoDir validates a repository name ("team/app" or "team/app.git") and returns the bare
// repository's directory and its canonical name without the .git suffix.
func (s *Server) repoDir(name string) (dir, canonical string, err error) {
	canonical = strings.TrimSuffix(name, ".git")
	if canonical == "" || len(canonical) > 200 {
		return "", "", fmt.Errorf("repository name %q: must be 1 to 200 characters", name)
	}
	for _, part := range strings.Split(canonical, "/") {
		if !segment.MatchString(part) || strings.HasSuffix(part, ".git") {
			return "", "", fmt.Errorf("repository name %q: each segment must match %s and not end in .git", name, segment)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(canonical)+".git"), canonical, nil
}

// Init creates the bare repository name with defaultBranch as its HEAD if it does not exist,
// and enables pushing over HTTP. It is idempotent, also across processes: the repository is
// built in a hidden directory and renamed into place.
func (s *Server) Init(name, defaultBranch string) error {
	dir, canonical, err := s.repoDir(name)
	if err != nil {
		return err
	}
	if err := checkBranch(defaultBranch); err != nil {
		return fmt.Errorf("init repository %q: %w", canonical, err)
	}
	s.initLock.Lock()
	defer s.initLock.Unlock()
	if isBareRepo(dir) {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("init repository %q: %w", canonical, err)
	}
	tmp, err := os.MkdirTemp(parent, ".init-")
	if err != nil {
		return fmt.Errorf("init repository %q: %w", canonical, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for _, args := range [][]string{
		{"init", "--bare", "--quiet", "--initial-branch=" + defaultBranch, tmp},
		{"-C", tmp, "config", "http.receivepack", "true"},
		// The writers never rewrite history; make the server refuse it too.
		{"-C", tmp, "config", "receive.denyNonFastForwards", "true"},
	} {
		if err := s.git(args...); err != nil {
			return fmt.Errorf("init repository %q: %w", canonical, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isBareRepo(dir) {
			return nil // another process won the race
		}
		return fmt.Errorf("init repository %q: %w", canonical, err)
	}
	s.log.Info("git repository created", "repo", canonical, "defaultBranch", defaultBranch)
	return nil
}

// git runs a local git command isolated from the host's global and system configuration.
func (s *Server) git(args ...string) error {
	cmd := exec.Command(s.gitPath, args...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func checkBranch(b string) error {
	if b == "" || strings.HasPrefix(b, "-") || strings.ContainsAny(b, " ~^:?*[\\\x7f") ||
		strings.Contains(b, "..") || strings.Contains(b, "@{") || strings.Contains(b, "//") ||
		strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.HasSuffix(b, ".lock") || strings.Contains(b, "/.") || strings.HasPrefix(b, ".") {
		return fmt.Errorf("branch %q: not a valid branch name", b)
	}
	for _, r := range b {
		if r < 0x20 {
			return fmt.Errorf("branch %q: not a valid branch name", b)
		}
	}
	return nil
}

func isBareRepo(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "HEAD"))
	return err == nil && fi.Mode().IsRegular()
}

// ServeHTTP authenticates the request, checks it addresses an existing repository through the
// smart protocol, and hands it to git http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.hasAuth && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="slipway git", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	name, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), ".git/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	dir, repo, err := s.repoDir(name)
	if err != nil || !isBareRepo(dir) {
		http.NotFound(w, r)
		return
	}
	switch {
	case rest == "info/refs":
		svc := r.URL.Query().Get("service")
		if svc != serviceUploadPack && svc != serviceReceivePack {
			http.Error(w, "only the smart HTTP protocol is served", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, http.MethodGet)
			return
		}
	case rest == serviceUploadPack || rest == serviceReceivePack:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}

	if r.ContentLength > s.maxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	}
	if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
		// CGI needs a length up front, and the git CLI streams large packs chunked.
		cleanup, err := spoolBody(r)
		defer cleanup()
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			s.log.Warn("git request body unreadable", "repo", repo, "error", err)
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
	}

	// The git CLI probes with a bare flush packet ("0000") before a large push; a body that
	// short carries no ref update, so it must not fire the push hook.
	updatesRefs := rest == serviceReceivePack && r.ContentLength > 4

	rec := &statusRecorder{ResponseWriter: w}
	s.backend(repo, r).ServeHTTP(rec, r)

	if updatesRefs && rec.status() == http.StatusOK && s.pushHook != nil {
		s.pushHook(repo)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	// Hashing first makes the comparison constant-time in the lengths too.
	gotU, wantU := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(s.user))
	gotP, wantP := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(s.pass))
	return subtle.ConstantTimeCompare(gotU[:], wantU[:])&subtle.ConstantTimeCompare(gotP[:], wantP[:]) == 1
}

// gitProtocol is what may be passed on from the Git-Protocol header (e.g. "version=2").
var gitProtocol = regexp.MustCompile(`^[A-Za-z0-9=:._-]{1,64}$`)

func (s *Server) backend(repo string, r *http.Request) *cgi.Handler {
	env := []string{
		"GIT_PROJECT_ROOT=" + s.root,
		"GIT_HTTP_EXPORT_ALL=1",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
	}
	if p := r.Header.Get("Git-Protocol"); gitProtocol.MatchString(p) {
		env = append(env, "GIT_PROTOCOL="+p)
	}
	if s.hasAuth {
		env = append(env, "REMOTE_USER="+s.user)
	}
	return &cgi.Handler{
		Path:   s.gitPath,
		Args:   []string{"http-backend"},
		Dir:    s.root,
		Env:    env,
		Stderr: &logWriter{log: s.log, repo: repo},
		Logger: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// spoolBody copies a body of unknown length to a temporary file and gives r a known length.
func spoolBody(r *http.Request) (cleanup func(), err error) {
	f, err := os.CreateTemp("", "gitserver-body-")
	if err != nil {
		return func() {}, err
	}
	cleanup = func() {
		f.Close()
		os.Remove(f.Name())
	}
	n, err := io.Copy(f, r.Body)
	if err != nil {
		return cleanup, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cleanup, err
	}
	r.Body = f
	r.ContentLength = n
	r.TransferEncoding = nil
	return cleanup, nil
}

// statusRecorder remembers the status code the backend answered with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// logWriter turns the backend's stderr into log records, one per write.
type logWriter struct {
	log  *slog.Logger
	repo string
}

func (l *logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		l.log.Warn("git http-backend", "repo", l.repo, "stderr", msg)
	}
	return len(p), nil
}
