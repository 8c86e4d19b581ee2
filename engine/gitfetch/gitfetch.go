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

var (
	fullSHA  = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	shortSHA = regexp.MustCompile(`^[0-9a-f]{7,63}$`)
)

// refDepth is how far back along Ref an abbreviated revision is looked for.
const refDepth = 50

// Options says what to fetch and where.
type Options struct {
	// URL is the repository's clone URL.
	URL string
	// Revision is the commit to check out: a full SHA, or an annotated tag object's SHA (what
	// providers send for a pushed annotated tag), which is peeled to its commit. An abbreviated
	// SHA (Bitbucket sends 12 digits in pull-request events) is accepted only with Ref and is
	// resolved among the last commits of Ref.
	Revision string
	// Ref is the full ref the revision was pushed to (refs/heads/main, refs/tags/v1). It is
	// optional with a full SHA and used when the server does not serve commits by SHA.
	Ref string
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
	case !shortSHA.MatchString(o.Revision):
		return fmt.Errorf("revision %q: must be a commit SHA (40 or 64 lower-case hex digits)", o.Revision)
	case !fullSHA.MatchString(o.Revision) && o.Ref == "":
		return fmt.Errorf("revision %q: an abbreviated SHA needs the ref it was pushed to (ref: empty)", o.Revision)
	case o.Ref != "" && (!strings.HasPrefix(o.Ref, "refs/") || strings.Contains(o.Ref, "..") || strings.ContainsAny(o.Ref, " ~^:?*[\\")):
		return fmt.Errorf("ref %q: must be a full ref such as refs/heads/main", o.Ref)
	case o.Dir == "":
		return errors.New("dir: empty")
	}
	return nil
}

// Fetch checks out o.Revision of o.URL into o.Dir and returns the commit checked out. A full
// SHA is fetched alone, so it works for commits no branch points at any more; a tag object is
// peeled to its commit; an abbreviated SHA is resolved along o.Ref.
func Fetch(ctx context.Context, o Options) (string, error) {
	if err := o.Validate(); err != nil {
		return "", fmt.Errorf("git fetch: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", fmt.Errorf("git fetch: %w", err)
	}
	if _, err := os.Stat(o.Dir + "/.git"); err != nil {
		// A retried step finds an earlier attempt's repository and fetches into it again.
		for _, args := range [][]string{{"init", "-q"}, {"remote", "add", "origin", o.URL}} {
			if _, err := git(ctx, o.Dir, args...); err != nil {
				return "", err
			}
		}
	}
	commit, err := resolve(ctx, o)
	if err != nil {
		return "", err
	}
	if _, err := git(ctx, o.Dir, "-c", "advice.detachedHead=false", "checkout", "-q", commit); err != nil {
		return "", err
	}
	head, err := git(ctx, o.Dir, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if head != commit {
		return "", fmt.Errorf("git fetch: checked out %s, want %s", head, commit)
	}
	return head, nil
}

// resolve fetches what o names and returns the full SHA of the commit to check out.
func resolve(ctx context.Context, o Options) (string, error) {
	if fullSHA.MatchString(o.Revision) {
		_, err := git(ctx, o.Dir, "fetch", "-q", "--depth=1", "origin", o.Revision)
		if err == nil {
			return peel(ctx, o.Dir, o.Revision)
		}
		if o.Ref == "" {
			return "", err
		}
		// Some servers serve only advertised refs: fall back to the ref.
	}
	if _, err := git(ctx, o.Dir, "fetch", "-q", fmt.Sprintf("--depth=%d", refDepth), "origin", "+"+o.Ref+":refs/slipway/fetched"); err != nil {
		return "", err
	}
	commit, err := git(ctx, o.Dir, "rev-parse", "--verify", "--quiet", "--end-of-options", o.Revision+"^{commit}")
	if err != nil {
		// rev-parse names no reason; the abbreviation is unknown or ambiguous along the ref.
		return "", fmt.Errorf("git fetch: revision %s is not a commit among the last %d of %s (pushed over since, or ambiguous)", o.Revision, refDepth, o.Ref)
	}
	return commit, nil
}

// peel returns the commit rev names: rev itself, or the commit an annotated tag points at.
func peel(ctx context.Context, dir, rev string) (string, error) {
	kind, err := git(ctx, dir, "cat-file", "-t", rev)
	if err != nil {
		return "", err
	}
	switch kind {
	case "commit":
		return rev, nil
	case "tag":
		return git(ctx, dir, "rev-parse", "--verify", rev+"^{commit}")
	}
	return "", fmt.Errorf("git fetch: %s is a %s, not a commit or a tag", rev, kind)
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
