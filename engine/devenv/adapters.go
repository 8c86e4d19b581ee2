package devenv

import (
	"context"
	"errors"
	"fmt"

	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
)

// renderer renders Applications with the app chart.
type renderer = appchart.Renderer

// committer writes deploy commits to one branch of the config repo.
type committer struct {
	w      *configrepo.Writer
	branch string
}

func (c committer) Commit(ctx context.Context, d deploy.Commit) (string, error) {
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
