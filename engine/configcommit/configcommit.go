// Package configcommit writes the deploy step's commits to one branch of the config repo.
package configcommit

import (
	"context"
	"errors"
	"fmt"

	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/manifest"
)

// Committer implements deploy.Committer over a config-repo Writer and one branch.
type Committer struct {
	w      *configrepo.Writer
	branch string
}

// New returns a Committer that commits to branch through w.
func New(w *configrepo.Writer, branch string) *Committer {
	return &Committer{w: w, branch: branch}
}

// Commit replaces d.Dir with d.Files on the branch and returns the commit that holds them.
// Content the branch already holds is not an error: it returns the tip, so that redoing a
// deploy after a crash is harmless.
func (c *Committer) Commit(ctx context.Context, d deploy.Commit) (string, error) {
	ch := configrepo.Change{Branch: c.branch, Dir: d.Dir, Files: d.Files, Subject: d.Subject}
	for _, t := range d.Trailers {
		if t[1] != "" {
			ch.Trailers = append(ch.Trailers, configrepo.Trailer{Key: t[0], Value: t[1]})
		}
	}
	res, err := c.w.Commit(ctx, ch)
	if errors.Is(err, configrepo.ErrNoChanges) {
		return res.Commit, nil // already committed, for example before a crash
	}
	if err != nil {
		return "", fmt.Errorf("config repo: %w", err)
	}
	return res.Commit, nil
}

// ReadAt returns the files of dir as revision, a commit of the branch, held them; a rollback
// restores them.
func (c *Committer) ReadAt(ctx context.Context, revision, dir string) ([]manifest.File, error) {
	files, err := c.w.ReadAt(ctx, c.branch, revision, dir)
	if err != nil {
		return nil, fmt.Errorf("config repo: %w", err)
	}
	return files, nil
}
