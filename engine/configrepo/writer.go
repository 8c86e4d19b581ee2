// Package configrepo commits rendered manifests to the config repo and reads them back for the syncer.
//
// It is the only package that imports go-git. A Writer keeps one bare cache repository per
// branch under its directory and never uses a worktree: a Change ("replace Dir with Files")
// is applied by rebuilding the tree objects on top of the branch tip, so re-applying it on a
// newer tip after a rejected push is the same operation as applying it the first time.
package configrepo

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

var (
	// ErrNoChanges reports that the branch tip already holds exactly the requested content, so
	// no commit was made. Commit returns it together with a Result naming that tip, which makes
	// redoing a Change after a crash safe: the second attempt ends here.
	ErrNoChanges = errors.New("config repo: no changes")

	// ErrConflict reports that the branch moved under every push attempt until the retry bound
	// was hit. Nothing was committed; the Change can be retried later as a whole.
	ErrConflict = errors.New("config repo: branch kept moving")

	// ErrNotFound reports that a branch, or a directory at the branch tip, does not exist.
	ErrNotFound = errors.New("config repo: not found")
)

const (
	remoteName = "origin"
	// maxWindowUnits caps the backoff window, in attempt durations (see backoff).
	maxWindowUnits = 16
	// defaultMaxPacks bounds the packfiles of one cache (see cache).
	defaultMaxPacks = 50
	// objectCacheSize bounds the decoded objects each open cache keeps in memory.
	objectCacheSize = 16 * cache.MiByte
)

// Author is the identity recorded as author and committer of every commit a Writer makes.
type Author struct {
	Name  string
	Email string
}

// Writer commits Changes to one remote config repository and reads it back.
//
// A Writer is safe for concurrent use. Writes to one branch are serialized inside the process;
// writers in other processes are handled by fetching, re-applying the Change on the new tip and
// retrying. Its cache directory must not be shared with another Writer or process.
type Writer struct {
	url    string
	dir    string
	author Author
	auth   transport.AuthMethod // nil for anonymous access
	sshKey *SSHKey              // turned into auth by New
	sign   *signer              // nil: commits are not signed

	// signingKey and signingPassphrase are turned into sign by New, then dropped.
	signingKey, signingPassphrase []byte

	caBundle    []byte
	maxPacks    int
	opTimeout   time.Duration
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	log         *slog.Logger
	now         func() time.Time

	mu       sync.Mutex
	branches map[string]*sync.Mutex
	repos    map[string]*git.Repository // open caches, each used under its branch's lock
}

// Option configures optional behaviour of a Writer.
type Option func(*Writer)

// WithBasicAuth authenticates to an HTTP(S) remote with a username and password (or token).
func WithBasicAuth(username, password string) Option {
	return func(w *Writer) { w.auth = &githttp.BasicAuth{Username: username, Password: password} }
}

// WithCABundle adds PEM-encoded CA certificates trusted for an HTTPS remote, for a server
// whose certificate is not signed by a CA the system trusts.
func WithCABundle(pem []byte) Option {
	return func(w *Writer) { w.caBundle = pem }
}

// WithSigningKey signs every commit with an ASCII-armored OpenPGP private key, as `git commit
// -S` would, so that `git verify-commit` and the Git hosts' "verified" badges check it. The
// passphrase decrypts an encrypted key; New reports a key it cannot read, decrypt or sign with.
func WithSigningKey(armoredKey, passphrase []byte) Option {
	return func(w *Writer) { w.signingKey, w.signingPassphrase = armoredKey, passphrase }
}

// WithTimeout bounds every single network operation (one fetch, one push, one listing).
func WithTimeout(d time.Duration) Option {
	return func(w *Writer) { w.opTimeout = d }
}

// WithRetry sets how many times Commit tries to push before returning ErrConflict (default
// 20), the smallest backoff unit (default 20ms) and the longest single wait (default 30s).
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(w *Writer) { w.maxAttempts, w.backoffBase, w.backoffMax = attempts, base, max }
}

// WithLogger sets the logger; it is scoped with the remote URL, which never holds credentials.
func WithLogger(l *slog.Logger) Option {
	return func(w *Writer) { w.log = l }
}

// New returns a Writer for the repository at remoteURL that caches objects under dir.
//
// remoteURL may be http(s)://, ssh:// (or scp-like user@host:path), file:// or a local path.
// Credentials must be passed with an option (WithBasicAuth for HTTP(S), WithSSHKey for SSH),
// never inside the URL, so that they cannot leak into errors or logs.
func New(remoteURL, dir string, author Author, opts ...Option) (*Writer, error) {
	if err := checkURL(remoteURL); err != nil {
		return nil, err
	}
	ep, err := transport.NewEndpoint(remoteURL)
	if err != nil {
		return nil, fmt.Errorf("config repo writer: remote URL: %w", err)
	}
	if dir == "" {
		return nil, fmt.Errorf("config repo writer: empty cache directory")
	}
	if author.Name == "" || author.Email == "" {
		return nil, fmt.Errorf("config repo writer: author name and email are required")
	}
	w := &Writer{
		url:         remoteURL,
		dir:         dir,
		author:      author,
		maxPacks:    defaultMaxPacks,
		opTimeout:   2 * time.Minute,
		maxAttempts: 20,
		backoffBase: 20 * time.Millisecond,
		backoffMax:  30 * time.Second,
		log:         slog.New(slog.DiscardHandler),
		now:         time.Now,
		branches:    make(map[string]*sync.Mutex),
		repos:       make(map[string]*git.Repository),
	}
	for _, o := range opts {
		o(w)
	}
	if w.maxAttempts < 1 {
		w.maxAttempts = 1
	}
	if err := w.checkTransport(ep); err != nil {
		return nil, fmt.Errorf("config repo writer: %w", err)
	}
	if w.caBundle != nil && !x509.NewCertPool().AppendCertsFromPEM(w.caBundle) {
		return nil, fmt.Errorf("config repo writer: the CA bundle holds no PEM certificate")
	}
	if w.signingKey != nil {
		if w.sign, err = newSigner(w.signingKey, w.signingPassphrase, w.now); err != nil {
			return nil, fmt.Errorf("config repo writer: %w", err)
		}
		w.signingKey, w.signingPassphrase = nil, nil
	}
	w.log = w.log.With("configRepo", remoteURL)
	return w, nil
}

// checkTransport matches the options to the remote's protocol and sets up SSH login.
func (w *Writer) checkTransport(ep *transport.Endpoint) error {
	isSSH := ep.Protocol == "ssh"
	switch {
	case isSSH && w.auth != nil:
		return fmt.Errorf("ssh remote %s: a username and password log in over HTTP(S) only; use WithSSHKey", ep.Host)
	case isSSH && w.sshKey == nil:
		// Without it go-git would try an SSH agent and ~/.ssh/known_hosts of whoever runs this.
		return fmt.Errorf("ssh remote %s needs an identity and known_hosts (WithSSHKey)", ep.Host)
	case isSSH && w.caBundle != nil:
		return fmt.Errorf("ssh remote %s: a CA bundle applies to https:// remotes only", ep.Host)
	case !isSSH && w.sshKey != nil:
		return fmt.Errorf("%s remote: an SSH key applies to ssh:// remotes only", ep.Protocol)
	case !isSSH:
		return nil
	}
	auth, err := newSSHAuth(*w.sshKey, ep, w.opTimeout)
	if err != nil {
		return fmt.Errorf("ssh remote %s: %w", ep.Host, err)
	}
	w.auth, w.sshKey = auth, nil
	return nil
}

func checkURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("config repo writer: empty remote URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Local paths and scp-like SSH addresses are not URLs; the transport decides.
		return nil
	}
	if _, ok := u.User.Password(); ok {
		return fmt.Errorf("config repo writer: remote URL must not contain a password; use WithBasicAuth or WithSSHKey")
	}
	return nil
}

// lockBranch serializes all work on one branch inside the process.
func (w *Writer) lockBranch(branch string) func() {
	w.mu.Lock()
	m, ok := w.branches[branch]
	if !ok {
		m = &sync.Mutex{}
		w.branches[branch] = m
	}
	w.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// cache opens (or creates) the bare cache repository of one branch, or returns it open from
// an earlier call: go-git then reads the pack indexes once, not on every call, and keeps the
// objects it decoded. Each branch gets its own so that go-git storage is only ever used under
// that branch's lock, which the caller holds.
func (w *Writer) cache(branch string) (*git.Repository, error) {
	w.mu.Lock()
	repo := w.repos[branch]
	w.mu.Unlock()
	path := w.cachePath(branch)
	// Every fetch that brings commits adds a packfile, and go-git looks an object up in each
	// pack in turn, so reading slows down with every commit the cache has seen fetched. Past
	// the bound the cache starts over: one full fetch of the branch instead of a slowdown that
	// grows with the config repo's age.
	if packs := countPacks(path); packs > w.maxPacks {
		w.log.Info("config repo cache holds too many packs, starting it over", "branch", branch, "packs", packs)
		if err := os.RemoveAll(path); err != nil {
			return nil, fmt.Errorf("reset config repo cache: %w", err)
		}
		repo = nil
	}
	if repo == nil {
		var err error
		if repo, err = w.openCache(branch, path); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	w.repos[branch] = repo
	w.mu.Unlock()
	return repo, nil
}

func (w *Writer) cachePath(branch string) string {
	key := sha256.Sum256([]byte(w.url + "\x00" + branch))
	return filepath.Join(w.dir, hex.EncodeToString(key[:12])+".git")
}

// openCache opens or creates the cache repository at path and points its remote at w.url.
func (w *Writer) openCache(branch, path string) (*git.Repository, error) {
	// The object cache is bounded well below go-git's default of 96 MiB: it stays open for
	// the life of the Writer, one per branch.
	storage := func() *filesystem.Storage {
		return filesystem.NewStorage(osfs.New(path), cache.NewObjectLRU(objectCacheSize))
	}
	repo, err := git.Open(storage(), nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(storage(), nil)
	} else if err != nil {
		// A cache left broken by a crash holds nothing the remote does not: start over.
		w.log.Warn("config repo cache unreadable, recreating", "branch", branch, "error", err)
		if rmErr := os.RemoveAll(path); rmErr != nil {
			return nil, fmt.Errorf("reset config repo cache: %w", rmErr)
		}
		repo, err = git.Init(storage(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("open config repo cache: %w", err)
	}
	cfg, err := repo.Config()
	if err != nil {
		return nil, fmt.Errorf("read config repo cache config: %w", err)
	}
	want := &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{w.url},
		Fetch: []config.RefSpec{config.RefSpec("+refs/heads/*:refs/remotes/" + remoteName + "/*")},
	}
	if rc, ok := cfg.Remotes[remoteName]; !ok || len(rc.URLs) != 1 || rc.URLs[0] != w.url {
		cfg.Remotes[remoteName] = want
		if err := repo.SetConfig(cfg); err != nil {
			return nil, fmt.Errorf("write config repo cache config: %w", err)
		}
	}
	return repo, nil
}

// countPacks returns how many packfiles the bare repository at path holds.
func countPacks(path string) int {
	entries, err := os.ReadDir(filepath.Join(path, "objects", "pack"))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pack") {
			n++
		}
	}
	return n
}

// fetchTip fetches branch and returns its tip commit, or nil when the remote has no such
// branch (an empty remote included).
func (w *Writer) fetchTip(ctx context.Context, repo *git.Repository, branch string) (*object.Commit, error) {
	tracking := plumbing.NewRemoteReferenceName(remoteName, branch)
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + plumbing.NewBranchReferenceName(branch).String() + ":" + tracking.String())},
		Auth:       w.auth,
		CABundle:   w.caBundle,
		Tags:       git.NoTags,
		Force:      true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		// The branch does not exist (any more): forget what an earlier fetch saw.
		if rmErr := repo.Storer.RemoveReference(tracking); rmErr != nil {
			return nil, fmt.Errorf("fetch branch %q: forget deleted branch: %w", branch, rmErr)
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("fetch branch %q: %w", branch, err)
	}
	ref, err := repo.Reference(tracking, true)
	if err != nil {
		return nil, fmt.Errorf("fetch branch %q: resolve tip: %w", branch, err)
	}
	tip, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("fetch branch %q: read tip commit: %w", branch, err)
	}
	return tip, nil
}

// backoff sleeps before the given retry (1-based), or returns ctx's error.
//
// The wait is drawn uniformly from a window that doubles with each retry (full jitter). Its
// unit is the duration of the attempt that just failed, not a constant: the chance of losing
// the race again depends on how long an attempt takes compared with the others' attempts, and
// that varies by orders of magnitude with the remote and the load. The window stops growing
// at maxWindowUnits units so that the bound on attempts, not the wait, decides when to give up.
func (w *Writer) backoff(ctx context.Context, retry int, lastAttempt time.Duration) error {
	unit := max(w.backoffBase, lastAttempt)
	window := min(unit<<min(retry-1, 16), unit*maxWindowUnits, w.backoffMax)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(window) + 1)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
