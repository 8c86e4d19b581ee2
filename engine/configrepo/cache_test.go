package configrepo

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestCacheStartsOverPastMaxPacks follows a branch that someone else keeps committing to: every
// fetch adds a pack to the reader's cache, and past the bound the cache starts over with one
// full fetch, while every Read and Commit still sees the latest tip.
func TestCacheStartsOverPastMaxPacks(t *testing.T) {
	r := fileRemote(t)
	ctx := t.Context()
	w := r.writer(t)
	w.maxPacks = 5
	other := r.writer(t)
	var packs []int
	for i := range 12 {
		want := fmt.Sprint(i)
		if _, err := other.Commit(ctx, Change{Branch: "main", Dir: "apps/other", Files: files("n", want), Subject: "other " + want}); err != nil {
			t.Fatal(err)
		}
		rev, got, err := w.Read(ctx, "main", "apps/other")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || string(got[0].Data) != want || rev != gitCLI(t, r.bare, "rev-parse", "main") {
			t.Fatalf("Read after commit %d = %s %q, want the tip holding %q", i, rev, got, want)
		}
		n, _ := filepath.Glob(filepath.Join(w.dir, "*.git", "objects", "pack", "*.pack"))
		packs = append(packs, len(n))
	}
	started := false
	for i, n := range packs {
		if n > w.maxPacks+1 {
			t.Errorf("after fetch %d the cache holds %d packs, want at most %d", i, n, w.maxPacks+1)
		}
		started = started || (i > 0 && n < packs[i-1])
	}
	if !started {
		t.Errorf("pack counts %v: the cache never started over", packs)
	}
	// A commit on a cache that started over builds on the tip.
	res, err := w.Commit(ctx, Change{Branch: "main", Dir: "apps/mine", Files: files("m", "m"), Subject: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	if n := commitCount(t, r.bare, "main"); n != 13 {
		t.Errorf("commits = %d, want 13", n)
	}
	if got := gitCLI(t, r.bare, "rev-parse", "main"); got != res.Commit {
		t.Errorf("main = %s, want %s", got, res.Commit)
	}
}
