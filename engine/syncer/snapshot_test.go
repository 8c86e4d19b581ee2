package syncer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slipway.dev/slipway/engine/manifest"
)

// slowRepo is a Source with Head, like the config-repo writer: every call takes a while, and
// it counts whole-branch reads.
type slowRepo struct {
	mu    sync.Mutex
	rev   int
	reads atomic.Int32
}

func (r *slowRepo) Head(context.Context, string) (string, error) {
	time.Sleep(20 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.rev), nil
}

func (r *slowRepo) Read(_ context.Context, _, dir string) (string, []manifest.File, error) {
	if dir != "" {
		return "", nil, fmt.Errorf("per-directory read of %q: snapshots must read whole branches", dir)
	}
	r.reads.Add(1)
	time.Sleep(20 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	var files []manifest.File
	for i := range 50 {
		files = append(files, manifest.File{Path: fmt.Sprintf("environments/dev/app-%02d/cm.yaml", i), Data: fmt.Appendf(nil, "rev %d", r.rev)})
	}
	return fmt.Sprint(r.rev), files, nil
}

func TestSnapshotsShareReads(t *testing.T) {
	repo := &slowRepo{}
	s := newSnapshots(repo, time.Minute)
	ctx := t.Context()
	readAll := func(wantRev string) {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				rev, files, err := s.Read(ctx, "main", fmt.Sprintf("environments/dev/app-%02d", i))
				if err != nil {
					t.Error(err)
					return
				}
				if rev != wantRev || len(files) != 1 || files[0].Path != "cm.yaml" || string(files[0].Data) != "rev "+wantRev {
					t.Errorf("app-%02d: rev %s, files %q; want rev %s and its cm.yaml", i, rev, files, wantRev)
				}
			})
		}
		wg.Wait()
	}
	readAll("0")
	if n := repo.reads.Load(); n > 2 {
		t.Errorf("50 concurrent targets made %d whole-branch reads, want at most 2 (one in flight, one queued)", n)
	}

	before := repo.reads.Load()
	readAll("0")
	if n := repo.reads.Load() - before; n != 0 {
		t.Errorf("tip unchanged, yet %d reads of the files", n)
	}

	// A read that starts after the tip moved must see the new tip.
	repo.mu.Lock()
	repo.rev = 1
	repo.mu.Unlock()
	readAll("1")

	if _, _, err := s.Read(ctx, "main", "environments/dev/nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing dir: err = %v, want not found", err)
	}
}
