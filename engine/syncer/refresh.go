package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"

	"slipway.dev/slipway/engine/manifest"
)

// Refresh reads the tip of branch and nudges every target on it whose directory now differs
// from what its last successful sync applied, and every target that has not synced
// successfully yet; it returns their names, sorted. It is what a push to the config repo calls
// (its webhook), so a commit made straight to the config repo is applied at once, and a commit
// that touches one application's directory syncs that application only.
//
// With a Source that can tell a branch's tip (the config-repo writer), the branch is read once
// for all targets; otherwise each target's directory is read.
func (s *Syncer) Refresh(ctx context.Context, branch string) ([]string, error) {
	s.mu.Lock()
	var ts []Target
	for _, t := range s.targets {
		if t.Branch == branch {
			ts = append(ts, t)
		}
	}
	s.mu.Unlock()
	if len(ts) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	digests := make(map[string]string, len(ts))
	if snap, ok := s.src.(*snapshots); ok {
		_, all, err := snap.branch(ctx, branch)
		if err != nil {
			return nil, fmt.Errorf("refresh %s: %w", branch, err)
		}
		for _, t := range ts {
			if files := under(all, t.Dir); len(files) > 0 {
				digests[t.Name] = filesDigest(files)
			}
		}
	} else {
		for _, t := range ts {
			if _, files, err := s.src.Read(ctx, branch, t.Dir); err == nil {
				digests[t.Name] = filesDigest(files)
			} else if ctx.Err() != nil {
				return nil, fmt.Errorf("refresh %s: %w", branch, err)
			}
			// A directory that cannot be read is nudged: its sync reports why.
		}
	}
	var changed []string
	s.mu.Lock()
	for _, t := range ts {
		last, ok := s.last[t.Name]
		if d, read := digests[t.Name]; !ok || !last.ok || !read || last.digest != d {
			changed = append(changed, t.Name)
		}
	}
	s.mu.Unlock()
	slices.Sort(changed)
	if len(changed) > 0 {
		s.Notify(changed...)
	}
	return changed, nil
}

// filesDigest identifies the content of one target's directory: the same files with the same
// bytes give the same digest, whatever the revision.
func filesDigest(files []manifest.File) string {
	files = slices.Clone(files)
	slices.SortFunc(files, byPath)
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(strconv.Quote(f.Path)))
		h.Write([]byte(strconv.Itoa(len(f.Data))))
		h.Write([]byte{0})
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
