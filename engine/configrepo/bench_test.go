package configrepo

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// seedHistory gives the remote's main branch commits commits, each changing the manifest of
// one of apps applications, as a long-lived config repo has. git fast-import writes them in
// one pass, so seeding 10,000 commits takes a moment, not the hours the Writer would need.
func seedHistory(tb testing.TB, bare string, commits, apps int) {
	tb.Helper()
	var in bytes.Buffer
	for i := range commits {
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter Seed <seed@example.com> %d +0000\n", 1700000000+i)
		msg := fmt.Sprintf("Deploy app-%04d\n", i%apps)
		fmt.Fprintf(&in, "data %d\n%s", len(msg), msg)
		data := fmt.Sprintf("image: app@sha256:%064d\nrevision: %d\n", i, i)
		fmt.Fprintf(&in, "M 100644 inline environments/staging/app-%04d/deployment.yaml\ndata %d\n%s\n", i%apps, len(data), data)
	}
	cmd := exec.Command("git", "-C", bare, "fast-import", "--quiet")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git fast-import: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", bare, "gc", "--quiet").CombinedOutput(); err != nil {
		tb.Fatalf("git gc: %v\n%s", err, out)
	}
}

// BenchmarkCommitGrownRepo measures one commit by a warm Writer (its cache already holds the
// history) to a config repo with a long history: the cost a commit pays for the repository's
// age, which must not grow with it.
func BenchmarkCommitGrownRepo(b *testing.B) {
	for _, commits := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("history=%d", commits), func(b *testing.B) {
			r := httpRemote(b)
			seedHistory(b, r.bare, commits, 500)
			w := r.writer(b)
			ctx := b.Context()
			change := func(i int) Change {
				return Change{Branch: "main", Dir: "environments/production/bench", Subject: "bench",
					Files: files("deployment.yaml", fmt.Sprintf("n: %d\n", i))}
			}
			if _, err := w.Commit(ctx, change(-1)); err != nil { // warms the cache
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := w.Commit(ctx, change(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadFollowingBranch measures what the syncer does after every commit made by
// someone else: fetch the new tip and read 500 applications' manifests. Each fetch adds a
// pack to the cache, so the cost must not grow with the number of commits followed.
func BenchmarkReadFollowingBranch(b *testing.B) {
	r := fileRemote(b)
	seedHistory(b, r.bare, 2000, 500)
	ctx := b.Context()
	reader, other := r.writer(b), r.writer(b)
	if _, _, err := reader.Read(ctx, "main", "environments/staging"); err != nil { // warms the cache
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if _, err := other.Commit(ctx, Change{Branch: "main", Dir: "environments/production/bench", Subject: "bench",
			Files: files("deployment.yaml", fmt.Sprintf("n: %d\n", i))}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, got, err := reader.Read(ctx, "main", "environments/staging"); err != nil || len(got) != 500 {
			b.Fatalf("Read = %d files, %v", len(got), err)
		}
	}
}
