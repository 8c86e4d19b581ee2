package configrepo

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"slipway.dev/slipway/engine/manifest"
)

// ReadAt returns every file under dir as it was at revision, a commit in branch's history, with
// paths relative to dir and sorted; a rollback restores a directory with it. A revision that
// is not in the branch's history, or a dir it does not hold, is ErrNotFound.
func (w *Writer) ReadAt(ctx context.Context, branch, revision, dir string) ([]manifest.File, error) {
	if err := validateBranch(branch); err != nil {
		return nil, err
	}
	if err := validateDir(dir); err != nil {
		return nil, err
	}
	if !plumbing.IsHash(revision) {
		return nil, fmt.Errorf("read %q at %q: not a commit id", dir, revision)
	}
	unlock := w.lockBranch(branch)
	defer unlock()
	repo, err := w.cache(branch)
	if err != nil {
		return nil, fmt.Errorf("read %q at %s: %w", dir, revision, err)
	}
	tip, err := w.fetchTip(ctx, repo, branch)
	if err != nil {
		return nil, fmt.Errorf("read %q at %s: %w", dir, revision, err)
	}
	if tip == nil {
		return nil, fmt.Errorf("read branch %q: %w", branch, ErrNotFound)
	}
	want := plumbing.NewHash(revision)
	var at *object.Commit
	// The history of a config repo is linear and every commit was fetched with the tip.
	err = object.NewCommitPreorderIter(tip, nil, nil).ForEach(func(c *object.Commit) error {
		if c.Hash == want {
			at = c
			return storer.ErrStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, storer.ErrStop) {
		return nil, fmt.Errorf("read %q at %s: walk history: %w", dir, revision, err)
	}
	if at == nil {
		return nil, fmt.Errorf("read %q at %s: not in the history of %s: %w", dir, revision, branch, ErrNotFound)
	}
	files, err := readTree(at, dir)
	if err != nil {
		return nil, fmt.Errorf("read %q at %s: %w", dir, revision, err)
	}
	return files, nil
}
