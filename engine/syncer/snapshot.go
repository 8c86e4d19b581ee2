package syncer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"slipway.dev/slipway/engine/manifest"
)

// headReader is a Source that can also tell a branch's tip without reading files, as the
// config-repo writer can. With one, targets share whole-branch snapshots (see snapshots).
type headReader interface {
	Source
	Head(ctx context.Context, branch string) (string, error)
}

// snapshots shares reads of whole branches among targets. Reading one directory of a Git
// branch costs a fetch, and the config-repo writer serializes fetches of a branch, so a
// thousand targets reading their own directories queue behind one another. Instead at most one
// read of a branch is in flight; a target that asks while one is in flight waits for the next,
// which then serves every target that asked meanwhile: no target gets a snapshot older than its
// request. A snapshot whose tip did not move is reused without reading the files again.
type snapshots struct {
	src     headReader
	timeout time.Duration

	mu       sync.Mutex
	branches map[string]*branchReads
}

type branchReads struct {
	inFlight, next *snapshotRead
	last           *snapshotRead // the latest successful read, reused while the tip stays
}

type snapshotRead struct {
	done chan struct{}
	rev  string
	all  []manifest.File
	err  error
}

func newSnapshots(src headReader, timeout time.Duration) *snapshots {
	return &snapshots{src: src, timeout: timeout, branches: map[string]*branchReads{}}
}

// Read returns the files under dir at the tip of branch, as Source.Read does.
func (s *snapshots) Read(ctx context.Context, branch, dir string) (string, []manifest.File, error) {
	s.mu.Lock()
	b := s.branches[branch]
	if b == nil {
		b = &branchReads{}
		s.branches[branch] = b
	}
	var r *snapshotRead
	switch {
	case b.inFlight == nil:
		r = &snapshotRead{done: make(chan struct{})}
		b.inFlight = r
		go s.read(context.WithoutCancel(ctx), branch, b, r) // shared: one caller giving up must not fail the others
	case b.next == nil:
		b.next = &snapshotRead{done: make(chan struct{})}
		r = b.next
	default:
		r = b.next
	}
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return "", nil, ctx.Err()
	case <-r.done:
	}
	if r.err != nil {
		return "", nil, r.err
	}
	prefix := strings.Trim(dir, "/") + "/"
	var out []manifest.File
	for _, f := range r.all {
		if rest, ok := strings.CutPrefix(f.Path, prefix); ok {
			out = append(out, manifest.File{Path: rest, Data: f.Data})
		}
	}
	if len(out) == 0 {
		return "", nil, fmt.Errorf("read dir %q at %s: not found", dir, shortRev(r.rev))
	}
	return r.rev, out, nil
}

// read performs r, then starts the read queued behind it, if any.
func (s *snapshots) read(parent context.Context, branch string, b *branchReads, r *snapshotRead) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	s.mu.Lock()
	last := b.last
	s.mu.Unlock()
	rev, err := s.src.Head(ctx, branch)
	switch {
	case err != nil:
		r.err = fmt.Errorf("read branch %s: %w", branch, err)
	case last != nil && last.rev == rev:
		r.rev, r.all = last.rev, last.all
	default:
		r.rev, r.all, r.err = s.src.Read(ctx, branch, "")
	}
	s.mu.Lock()
	if r.err == nil {
		b.last = r
	}
	b.inFlight, b.next = b.next, nil
	if b.inFlight != nil {
		go s.read(parent, branch, b, b.inFlight)
	}
	s.mu.Unlock()
	close(r.done)
}
