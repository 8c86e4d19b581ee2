// Package status reports a pipeline's outcome to the Git provider as a commit status, through
// each provider's REST API: GitHub's and Gitea's/Forgejo's statuses endpoints, GitLab's commit
// statuses and Bitbucket Cloud's build statuses.
package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// State is a provider-neutral commit status.
type State string

// Commit states.
const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
	Error   State = "error"
)

// FromTekton maps Tekton's aggregate $(tasks.status) (Succeeded, Completed, Failed, None) or
// a State to a State.
func FromTekton(s string) (State, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "succeeded", "completed", "success":
		return Success, nil
	case "failed", "failure":
		return Failure, nil
	case "none", "pending", "running":
		return Pending, nil
	case "error", "cancelled", "canceled":
		return Error, nil
	}
	return "", fmt.Errorf("state %q: want Succeeded, Completed, Failed or None (Tekton's $(tasks.status)), or pending, success, failure or error", s)
}

// Report is one commit status.
type Report struct {
	// Provider is github, gitlab, gitea, forgejo or bitbucket.
	Provider string
	// RepoURL is the repository's clone or web URL.
	RepoURL string
	// SHA is the full commit SHA.
	SHA   string
	State State
	// Context names the check (for example slipway/deploy); providers keep one status per
	// context and commit.
	Context     string
	Description string
	// TargetURL links to the run; optional.
	TargetURL string
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// Validate reports the first problem with r, naming the field.
func (r Report) Validate() error {
	switch {
	case !fullSHA.MatchString(r.SHA):
		return fmt.Errorf("sha %q: must be a full commit SHA", r.SHA)
	case r.Context == "":
		return errors.New("context: empty")
	}
	switch r.State {
	case Pending, Success, Failure, Error:
	default:
		return fmt.Errorf("state %q: want pending, success, failure or error", r.State)
	}
	if _, _, err := repoPath(r.RepoURL); err != nil {
		return err
	}
	return nil
}

// Client posts commit statuses.
type Client struct {
	// HTTP sends the requests (default: a client with a 15 s timeout).
	HTTP *http.Client
	// APIURL overrides the API base derived from the repository URL (GitHub Enterprise,
	// self-hosted GitLab on a different host, tests).
	APIURL string
	// Token authenticates: a GitHub or Gitea token, a GitLab access token, a Bitbucket access
	// token. It is sent only in the Authorization (or PRIVATE-TOKEN) header.
	Token string
	// Attempts bounds tries on network errors and 5xx answers (default 3).
	Attempts int
}

// Post sends r to its provider.
func (c *Client) Post(ctx context.Context, r Report) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("commit status: %w", err)
	}
	req, err := c.request(r)
	if err != nil {
		return fmt.Errorf("commit status: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	attempts := max(c.Attempts, 1)
	if c.Attempts == 0 {
		attempts = 3
	}
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("commit status: %w (last: %w)", ctx.Err(), last)
			case <-time.After(time.Duration(i) * 500 * time.Millisecond):
			}
		}
		retry, err := c.send(ctx, hc, req)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("commit status for %s on %s: %w", r.SHA[:12], r.Provider, last)
}

// apiRequest is a request that can be sent more than once.
type apiRequest struct {
	url    string
	body   []byte
	header http.Header
}

func (c *Client) send(ctx context.Context, hc *http.Client, ar apiRequest) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ar.url, bytes.NewReader(ar.body))
	if err != nil {
		return false, err
	}
	req.Header = ar.header.Clone()
	resp, err := hc.Do(req)
	if err != nil {
		return true, redactErr(err, c.Token)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode < 300 {
		return false, nil
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(msg), c.Token, "***"))
	err = fmt.Errorf("POST %s: %s: %s", redactURL(ar.url), resp.Status, text)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Errorf("%w (check that the token is valid and may write commit statuses)", err)
	case resp.StatusCode == http.StatusNotFound:
		return false, fmt.Errorf("%w (the repository or commit is unknown to the API, or the token cannot see it)", err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, err
	}
	return false, err
}

// request builds the provider's API call for r.
func (c *Client) request(r Report) (apiRequest, error) {
	host, path, _ := repoPath(r.RepoURL)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "slipway")
	var endpoint string
	var body any
	switch r.Provider {
	case "github":
		base := c.base("https://api.github.com", "https://"+host+"/api/v3", host == "github.com")
		endpoint = fmt.Sprintf("%s/repos/%s/statuses/%s", base, path, r.SHA)
		body = map[string]string{"state": string(r.State), "context": r.Context,
			"description": limit(r.Description, 140), "target_url": r.TargetURL}
		h.Set("Accept", "application/vnd.github+json")
		h.Set("X-GitHub-Api-Version", "2022-11-28")
		if c.Token != "" {
			h.Set("Authorization", "Bearer "+c.Token)
		}
	case "gitlab":
		base := c.base("https://"+host+"/api/v4", "https://"+host+"/api/v4", true)
		state := map[State]string{Pending: "pending", Success: "success", Failure: "failed", Error: "canceled"}[r.State]
		endpoint = fmt.Sprintf("%s/projects/%s/statuses/%s", base, url.PathEscape(path), r.SHA)
		body = map[string]string{"state": state, "name": r.Context, "description": limit(r.Description, 255), "target_url": r.TargetURL}
		if c.Token != "" {
			h.Set("PRIVATE-TOKEN", c.Token)
		}
	case "gitea", "forgejo":
		base := c.base("https://"+host+"/api/v1", "https://"+host+"/api/v1", true)
		endpoint = fmt.Sprintf("%s/repos/%s/statuses/%s", base, path, r.SHA)
		body = map[string]string{"state": string(r.State), "context": r.Context,
			"description": limit(r.Description, 255), "target_url": r.TargetURL}
		if c.Token != "" {
			h.Set("Authorization", "token "+c.Token)
		}
	case "bitbucket":
		base := c.base("https://api.bitbucket.org/2.0", "https://api.bitbucket.org/2.0", true)
		state := map[State]string{Pending: "INPROGRESS", Success: "SUCCESSFUL", Failure: "FAILED", Error: "STOPPED"}[r.State]
		endpoint = fmt.Sprintf("%s/repositories/%s/commit/%s/statuses/build", base, path, r.SHA)
		body = map[string]string{"key": limit(r.Context, 40), "state": state, "name": r.Context,
			"description": limit(r.Description, 255), "url": r.TargetURL}
		if c.Token != "" {
			h.Set("Authorization", "Bearer "+c.Token)
		}
	default:
		return apiRequest{}, fmt.Errorf("provider %q: want github, gitlab, gitea, forgejo or bitbucket", r.Provider)
	}
	b, err := json.Marshal(body)
	return apiRequest{url: endpoint, body: b, header: h}, err
}

// base picks the API base: the override, the public one, or the self-hosted one.
func (c *Client) base(public, selfHosted string, isPublic bool) string {
	switch {
	case c.APIURL != "":
		return strings.TrimSuffix(c.APIURL, "/")
	case isPublic:
		return public
	}
	return selfHosted
}

// repoPath splits a repository URL into its host and owner/name path (group/subgroup/name on
// GitLab), without a .git suffix.
func repoPath(raw string) (host, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh") {
		return "", "", fmt.Errorf("repo URL %q: want https://host/owner/name", redactURL(raw))
	}
	path = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	if strings.Count(path, "/") < 1 || strings.Contains(path, "..") {
		return "", "", fmt.Errorf("repo URL %q: the path must be owner/name", redactURL(raw))
	}
	return u.Hostname(), path, nil
}

func limit(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

var userinfo = regexp.MustCompile(`://[^/@\s]+@`)

func redactURL(s string) string { return userinfo.ReplaceAllString(s, "://***@") }

func redactErr(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "***"))
}
