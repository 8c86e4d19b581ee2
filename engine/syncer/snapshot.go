package syncer

import (
	"context"
	"fmt"
	"slices"
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
	rev, all, err := s.branch(ctx, branch)
	if err != nil {
		return "", nil, err
	}
	out := under(all, dir)
	if len(out) == 0 {
		return "", nil, fmt.Errorf("read dir %q at %s: not found", dir, shortRev(rev))
	}
	return rev, out, nil
}

// branch returns every file of branch at a tip read after the call began, sorted by path.
func (s *snapshots) branch(ctx context.Context, branch string) (string, []manifest.File, error) {
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
	return r.rev, r.all, nil
}

// under returns the files of all (sorted by path) below dir, with paths relative to it. A
// binary search finds the first, so a thousand targets sharing one snapshot cost little.
func under(all []manifest.File, dir string) []manifest.File {
	prefix := strings.Trim(dir, "/") + "/"
	i, _ := slices.BinarySearchFunc(all, prefix, func(f manifest.File, p string) int { return strings.Compare(f.Path, p) })
	var out []manifest.File
	for ; i < len(all); i++ {
		rest, ok := strings.CutPrefix(all[i].Path, prefix)
		if !ok {
			break
		}
		out = append(out, manifest.File{Path: rest, Data: all[i].Data})
	}
	return out
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
		if !slices.IsSortedFunc(r.all, byPath) {
			r.all = slices.Clone(r.all)
			slices.SortFunc(r.all, byPath)
		}
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

func byPath(a, b manifest.File) int { return strings.Compare(a.Path, b.Path) }
