// Package pushhook receives the config repo's push webhooks at /hooks/<provider> and refreshes
// the syncer's targets on the pushed branch, so that a commit made straight to the config repo
// (not by Slipway) is applied at once instead of at the next sync interval.
package pushhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
)

// Refresher re-reads a branch of the config repo and syncs the targets whose directories
// changed; it returns their names. The syncer implements it.
type Refresher interface {
	Refresh(ctx context.Context, branch string) (targets []string, err error)
}

// Secrets returns the secrets a delivery may be signed with (several while one is rotated).
// An error means they cannot be read now; the delivery is answered 503.
type Secrets func(ctx context.Context) ([][]byte, error)

// Defaults of the Handler's options.
const (
	// DefaultMaxBodyBytes is GitHub's own payload cap, 25 MiB.
	DefaultMaxBodyBytes = 25 << 20
	// DefaultTimeout bounds the secret lookup and the refresh together; providers give up on a
	// delivery after about 10 s.
	DefaultTimeout = 8 * time.Second
	// DefaultMaxInFlight caps concurrent deliveries; beyond it the handler answers 503.
	DefaultMaxInFlight = 16
)

// Option configures a Handler.
type Option func(*options)

type options struct {
	log         *slog.Logger
	maxBody     int64
	timeout     time.Duration
	maxInFlight int
}

// WithLogger logs through l instead of discarding logs.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMaxBodyBytes caps request bodies at n bytes instead of DefaultMaxBodyBytes.
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithTimeout bounds the secret lookup and the refresh together instead of DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxInFlight caps concurrent deliveries at n instead of DefaultMaxInFlight.
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = n } }

// Handler is the http.Handler for the config repo's push webhooks.
type Handler struct {
	repo     repoID
	branch   string
	refresh  Refresher
	secrets  Secrets
	parsers  map[event.Provider]webhooks.Parser
	log      *slog.Logger
	maxBody  int64
	timeout  time.Duration
	inFlight chan struct{}
}

// New returns a Handler for pushes to branch of the config repo at repoURL, verified with
// secrets by the provider's parser (keyed by the provider in the URL path, as providers.All
// returns them), that calls r for every verified push to that branch.
func New(repoURL, branch string, r Refresher, secrets Secrets, parsers map[event.Provider]webhooks.Parser, opts ...Option) (*Handler, error) {
	o := options{log: slog.New(slog.DiscardHandler), maxBody: DefaultMaxBodyBytes, timeout: DefaultTimeout, maxInFlight: DefaultMaxInFlight}
	for _, opt := range opts {
		opt(&o)
	}
	repo, err := parseRepoURL(repoURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("pushhook: config repo URL: %w", err)
	case branch == "":
		return nil, errors.New("pushhook: no branch")
	case r == nil || secrets == nil:
		return nil, errors.New("pushhook: nil Refresher or Secrets")
	case len(parsers) == 0:
		return nil, errors.New("pushhook: no parsers")
	case o.maxBody <= 0 || o.timeout <= 0 || o.maxInFlight <= 0:
		return nil, errors.New("pushhook: body cap, timeout and in-flight cap must be positive")
	}
	return &Handler{
		repo: repo, branch: branch, refresh: r, secrets: secrets, parsers: parsers,
		log: o.log, maxBody: o.maxBody, timeout: o.timeout, inFlight: make(chan struct{}, o.maxInFlight),
	}, nil
}

// answer is the reply to one delivery: its status, and a message under key ("accepted",
// "ignored" or "error"). err is logged, never sent.
type answer struct {
	status   int
	key, msg string
	err      error
}

func fail(status int, msg string, err error) answer {
	return answer{status: status, key: "error", msg: msg, err: err}
}

func ignore(msg string) answer { return answer{status: http.StatusOK, key: "ignored", msg: msg} }

// ServeHTTP answers one delivery: 202 once the push's targets are refreshed, 200 for a
// delivery that asks for nothing (a ping, another branch, another repository), 401 for a
// missing or bad signature, 400 for a malformed body, 413 over the body cap, 415 for a wrong
// content type and 503 when the secrets cannot be read or the refresh fails.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name, _ := strings.CutPrefix(r.URL.Path, webhooks.PathPrefix)
	d := &delivery{provider: event.Provider(name), log: h.log.With("provider", name)}
	a := h.serve(w, r, d)
	respond(w, a)
	level := slog.LevelInfo
	switch {
	case a.status >= 500:
		level = slog.LevelError
	case a.status >= 400:
		level = slog.LevelWarn
	}
	attrs := []any{"status", a.status, a.key, a.msg, "elapsed", time.Since(start)}
	if a.err != nil {
		attrs = append(attrs, "err", a.err)
	}
	d.log.Log(r.Context(), level, "config repo push webhook", attrs...)
}

// delivery is one request on its way through the steps of serve.
type delivery struct {
	provider event.Provider
	log      *slog.Logger // gains the delivery id and what the push is about as they are known
}

// serve runs the steps in order; the first that does not pass decides the answer.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, d *delivery) answer {
	parser := h.parsers[d.provider]
	if parser == nil || !strings.HasPrefix(r.URL.Path, webhooks.PathPrefix) {
		return fail(http.StatusNotFound, "unknown provider", nil)
	}
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, "method not allowed", nil)
	}
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	default:
		return fail(http.StatusServiceUnavailable, "too many deliveries in flight", nil)
	}
	body, a, ok := h.readBody(w, r)
	if !ok {
		return a
	}
	id, _, err := parser.Identify(r.Header, body)
	d.log = d.log.With("delivery", id)
	if err != nil {
		return parserAnswer(err)
	}
	// The refresh must not be cut short by a provider that hangs up: it is cheap and shared.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.timeout)
	defer cancel()
	secrets, err := h.secrets(ctx)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "secrets unavailable, retry later", err)
	}
	if err := parser.Verify(r.Header, body, secrets); err != nil {
		if errors.Is(err, event.ErrNoSignature) {
			return fail(http.StatusUnauthorized, "missing signature", err)
		}
		return fail(http.StatusUnauthorized, "signature verification failed", err)
	}
	evs, err := parser.Parse(r.Header, body)
	if err != nil {
		return parserAnswer(err)
	}
	// One delivery may report several refs (a Bitbucket push); one of them on the branch is
	// enough, and the refresh reads the branch's tip, whatever the delivery says it is.
	var why []string
	pushed := false
	for _, ev := range evs {
		switch {
		case !h.repo.matches(ev.Repo()):
			why = append(why, fmt.Sprintf("%s is not the config repository %s", ev.RepoFullName, h.repo))
		case ev.Kind != event.Push && ev.Kind != event.BranchCreate:
			why = append(why, fmt.Sprintf("a %s event changes no branch", ev.Kind))
		case ev.Branch() != h.branch:
			why = append(why, fmt.Sprintf("push to %s; the syncer reads %s", ev.Ref, h.branch))
		default:
			pushed = true
			d.log = d.log.With("repo", ev.RepoFullName, "ref", ev.Ref, "after", ev.After)
		}
	}
	if !pushed {
		return ignore(strings.Join(why, "; "))
	}
	targets, err := h.refresh.Refresh(ctx, h.branch)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "refresh failed, retry later: "+err.Error(), err)
	}
	d.log.Info("config repo push: targets refreshed", "targets", targets)
	return answer{status: http.StatusAccepted, key: "accepted", msg: fmt.Sprintf("%d target(s) to sync", len(targets))}
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, answer, bool) {
	if r.ContentLength > h.maxBody {
		return nil, fail(http.StatusRequestEntityTooLarge, "body too large", nil), false
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, fail(http.StatusRequestEntityTooLarge, "body too large", err), false
		}
		return nil, fail(http.StatusBadRequest, "cannot read body", err), false
	}
	return buf.Bytes(), answer{}, true
}

// parserAnswer maps a provider parser's error to the answer.
func parserAnswer(err error) answer {
	if ig, ok := errors.AsType[*event.IgnoredError](err); ok {
		return ignore(ig.Reason)
	}
	if errors.Is(err, event.ErrContentType) {
		return fail(http.StatusUnsupportedMediaType, err.Error(), err)
	}
	return fail(http.StatusBadRequest, err.Error(), err)
}

// maxMessageLen keeps answers short whatever a parser put in its error.
const maxMessageLen = 256

func respond(w http.ResponseWriter, a answer) {
	msg := a.msg
	if len(msg) > maxMessageLen {
		msg = msg[:maxMessageLen]
	}
	body, err := json.Marshal(map[string]string{a.key: strings.ToValidUTF8(msg, "")})
	if err != nil {
		body = []byte(`{"error":"internal"}`)
	}
	body = append(body, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	switch a.status {
	case http.StatusMethodNotAllowed:
		hd.Set("Allow", http.MethodPost)
	case http.StatusServiceUnavailable:
		hd.Set("Retry-After", "1")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(body) // the provider may be gone; its retry, or the interval, recovers
}

// repoID is a repository as its clone URL names it: the host and the path without ".git".
type repoID struct{ host, path string }

func (r repoID) String() string { return r.host + "/" + r.path }

func parseRepoURL(raw string) (repoID, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return repoID{}, err
	}
	if u.Host == "" {
		return repoID{}, fmt.Errorf("%q has no host", u.Redacted())
	}
	p := strings.ToLower(strings.Trim(strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git"), "/"))
	if p == "" {
		return repoID{}, fmt.Errorf("%q has no repository path", u.Redacted())
	}
	return repoID{host: strings.ToLower(u.Host), path: p}, nil
}

// matches reports whether a delivery's repository is this one: the same clone URL, or the
// same owner/name. The full name alone is enough because the Git server may be reached under
// another host name from inside the cluster than the one its webhooks name; the signature,
// made with the config repo's own secret, is what authenticates the delivery.
func (r repoID) matches(repo event.Repo) bool {
	if u, err := parseRepoURL(repo.URL); err == nil && u == r {
		return true
	}
	name := strings.ToLower(strings.Trim(repo.FullName, "/"))
	return name != "" && (name == r.path || strings.HasSuffix(r.path, "/"+name))
}
