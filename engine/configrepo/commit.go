package configrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Commit replaces c.Dir on c.Branch with c.Files and pushes one commit.
//
// If the tip already holds exactly that content, Commit makes no commit and returns
// ErrNoChanges with a Result naming the tip; redoing a Change after a crash therefore never
// makes a second commit. When the push is rejected because the branch moved, Commit fetches
// the new tip, rebuilds the tree on it and tries again, up to the retry bound (ErrConflict).
// The push never rewrites history: it only succeeds as a fast-forward of the tip it built on.
func (w *Writer) Commit(ctx context.Context, c Change) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	unlock := w.lockBranch(c.Branch)
	defer unlock()

	repo, err := w.cache(c.Branch)
	if err != nil {
		return Result{}, fmt.Errorf("commit dir %q: %w", c.Dir, err)
	}
	// The files' objects do not depend on the tip, so they are written once, before any
	// network traffic; this also rejects conflicting paths early.
	sub, err := buildFileTree(repo.Storer, c.Files)
	if err != nil {
		return Result{}, fmt.Errorf("change for dir %q: %w", c.Dir, err)
	}
	log := w.log.With("branch", c.Branch, "dir", c.Dir)

	var pushed *object.Commit // the last commit whose push failed
	var pushErr error
	var lastAttempt time.Duration
	for attempt := 1; attempt <= w.maxAttempts; attempt++ {
		if attempt > 1 {
			if err := w.backoff(ctx, attempt-1, lastAttempt); err != nil {
				return Result{}, fmt.Errorf("commit dir %q to branch %q: %w", c.Dir, c.Branch, err)
			}
		}
		started := time.Now()
		tip, err := w.fetchTip(ctx, repo, c.Branch)
		if err != nil {
			return Result{}, fmt.Errorf("commit dir %q: %w", c.Dir, err)
		}
		if pushed != nil {
			landed, err := landedSince(pushed, tip)
			if err != nil {
				return Result{}, fmt.Errorf("commit dir %q to branch %q: check earlier push: %w", c.Dir, c.Branch, err)
			}
			if landed {
				// The push reported an error but the server applied it.
				log.Info("config repo commit pushed", "commit", pushed.Hash.String(), "attempts", attempt-1)
				return Result{Commit: pushed.Hash.String(), Created: true}, nil
			}
			if !moved(pushed, tip) {
				// Nobody else pushed, so the rejection was not a race: retrying won't help.
				return Result{}, fmt.Errorf("push dir %q to branch %q: %w", c.Dir, c.Branch, pushErr)
			}
		}
		next, err := w.apply(repo, tip, c, sub)
		if err != nil {
			return Result{}, fmt.Errorf("commit dir %q to branch %q: %w", c.Dir, c.Branch, err)
		}
		if next == nil {
			res := Result{}
			if tip != nil {
				res.Commit = tip.Hash.String()
			}
			return res, ErrNoChanges
		}
		pushErr = w.push(ctx, repo, c.Branch, tip, next)
		if pushErr == nil {
			log.Info("config repo commit pushed", "commit", next.Hash.String(), "attempts", attempt)
			return Result{Commit: next.Hash.String(), Created: true}, nil
		}
		if !retryable(ctx, pushErr) {
			return Result{}, fmt.Errorf("push dir %q to branch %q: %w", c.Dir, c.Branch, pushErr)
		}
		pushed = next
		lastAttempt = time.Since(started)
		log.Debug("config repo push rejected, retrying on the new tip", "attempt", attempt, "error", pushErr)
	}
	return Result{}, fmt.Errorf("push dir %q to branch %q: %w: gave up after %d attempts: %w",
		c.Dir, c.Branch, ErrConflict, w.maxAttempts, pushErr)
}

// apply builds the commit for c on top of tip (nil: the branch does not exist yet), or
// returns nil if the tree would not change.
func (w *Writer) apply(repo *git.Repository, tip *object.Commit, c Change, sub plumbing.Hash) (*object.Commit, error) {
	s := repo.Storer
	base := plumbing.ZeroHash
	if tip != nil {
		base = tip.TreeHash
	}
	root, err := replaceDir(s, base, dirComponents(c.Dir), 0, sub)
	if err != nil {
		return nil, err
	}
	if root.IsZero() {
		if tip == nil {
			return nil, nil // deleting from a branch that does not exist
		}
		if root, err = emptyTree(s); err != nil {
			return nil, err
		}
	}
	if tip != nil && root == tip.TreeHash {
		return nil, nil
	}
	sig := object.Signature{Name: w.author.Name, Email: w.author.Email, When: w.now()}
	commit := &object.Commit{Author: sig, Committer: sig, Message: c.message(), TreeHash: root}
	if tip != nil {
		commit.ParentHashes = []plumbing.Hash{tip.Hash}
	}
	if w.sign != nil {
		// Each attempt builds a new commit on the tip it fetched, so each is signed anew.
		if err := w.sign.signCommit(commit); err != nil {
			return nil, err
		}
	}
	o := s.NewEncodedObject()
	if err := commit.Encode(o); err != nil {
		return nil, fmt.Errorf("encode commit: %w", err)
	}
	h, err := s.SetEncodedObject(o)
	if err != nil {
		return nil, fmt.Errorf("store commit: %w", err)
	}
	return object.GetCommit(s, h)
}

// retryable reports whether a failed push is worth retrying on a fresh tip. Authentication,
// authorization and a missing repository won't fix themselves; neither will a cancelled ctx.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, permanent := range []error{
		transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed,
		transport.ErrRepositoryNotFound, transport.ErrInvalidAuthMethod, ErrHostKey,
	} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// moved reports whether the branch tip is no longer the parent that pushed was built on.
func moved(pushed, tip *object.Commit) bool {
	if tip == nil {
		return len(pushed.ParentHashes) > 0 // the branch was deleted
	}
	return len(pushed.ParentHashes) == 0 || tip.Hash != pushed.ParentHashes[0]
}

// landedSince reports whether pushed is in tip's history. The walk stops at pushed's parent,
// so it only covers commits made since pushed was built.
func landedSince(pushed, tip *object.Commit) (bool, error) {
	if tip == nil {
		return false, nil
	}
	iter := object.NewCommitPreorderIter(tip, nil, pushed.ParentHashes)
	defer iter.Close()
	for {
		c, err := iter.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if c.Hash == pushed.Hash {
			return true, nil
		}
	}
}
