// Package gitfetch fetches exactly one commit of a Git repository into a directory with the git
// command-line tool, as the git-clone catalog task's step.
package gitfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// cloneSchemes are the URL schemes a clone URL may use; file:// has a path and no host.
var cloneSchemes = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "file": true}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// Options says what to fetch and where.
type Options struct {
	// URL is the repository's clone URL.
	URL string
	// Revision is the full commit SHA.
	Revision string
	// Dir receives the checkout; it must be empty or missing.
	Dir string
}

// Validate reports the first thing wrong with o, naming the field.
func (o Options) Validate() error {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return errors.New("url: empty")
	case err != nil || !cloneSchemes[u.Scheme] || (u.Host == "") != (u.Scheme == "file") || u.Scheme == "file" && u.Path == "":
		return fmt.Errorf("url %q: not a clone URL (want https://host/org/repo.git)", redact(o.URL))
	case !fullSHA.MatchString(o.Revision):
		return fmt.Errorf("revision %q: must be a full commit SHA (40 or 64 lower-case hex digits)", o.Revision)
	case o.Dir == "":
		return errors.New("dir: empty")
	}
	return nil
}

// Fetch checks out o.Revision of o.URL into o.Dir and returns the commit checked out. It fetches
// only that commit, so it works for commits no branch points at any more.
func Fetch(ctx context.Context, o Options) (string, error) {
	if err := o.Validate(); err != nil {
		return "", fmt.Errorf("git fetch: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", fmt.Errorf("git fetch: %w", err)
	}
	steps := [][]string{
		{"init", "-q"},
		{"remote", "add", "origin", o.URL},
		{"fetch", "-q", "--depth=1", "origin", o.Revision},
		{"-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"},
	}
	if _, err := os.Stat(o.Dir + "/.git"); err == nil {
		// A retried step finds an earlier attempt's repository: fetch into it again.
		steps = steps[2:]
	}
	for _, args := range steps {
		if _, err := git(ctx, o.Dir, args...); err != nil {
			return "", err
		}
	}
	head, err := git(ctx, o.Dir, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if head != o.Revision {
		return "", fmt.Errorf("git fetch: checked out %s, want %s", head, o.Revision)
	}
	return head, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, redact(strings.TrimSpace(out.String())))
	}
	return strings.TrimSpace(out.String()), nil
}

// redact removes user information from URLs in s so credentials never reach a log.
func redact(s string) string {
	return userinfo.ReplaceAllString(s, "://***@")
}

var userinfo = regexp.MustCompile(`://[^/@\s]+@`)
