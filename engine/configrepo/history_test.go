package configrepo

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/manifest"
)

// TestReadAt reads a directory as an earlier commit held it, from another writer's cache as a
// rollback in another process would, and refuses revisions outside the branch's history.
func TestReadAt(t *testing.T) {
	ctx := t.Context()
	r := httpRemote(t)
	w := r.writer(t)
	first, err := w.Commit(ctx, Change{Branch: "main", Dir: "environments/dev/hello", Files: files("deployment.yaml", "replicas: 1\n"), Subject: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, Change{Branch: "main", Dir: "environments/dev/hello", Files: files("deployment.yaml", "replicas: 2\n", "hpa.yaml", "max: 3\n"), Subject: "two"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, Change{Branch: "other", Dir: "environments/dev/hello", Files: files("deployment.yaml", "replicas: 9\n"), Subject: "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	other, err := r.writer(t).Head(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}

	got, err := r.writer(t).ReadAt(ctx, "main", first.Commit, "environments/dev/hello")
	if err != nil {
		t.Fatal(err)
	}
	if want := files("deployment.yaml", "replicas: 1\n"); !slices.EqualFunc(got, want, func(a, b manifest.File) bool { return a.Path == b.Path && string(a.Data) == string(b.Data) }) {
		t.Errorf("ReadAt(first) = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name, branch, rev, dir, want string
		notFound                     bool
	}{
		{name: "a directory the revision does not hold", branch: "main", rev: first.Commit, dir: "environments/prod/hello", notFound: true},
		{name: "a commit of another branch", branch: "main", rev: other, dir: "environments/dev/hello", want: "not in the history of main", notFound: true},
		{name: "not a commit id", branch: "main", rev: "HEAD~1", dir: "environments/dev/hello", want: "not a commit id"},
		{name: "a bad directory", branch: "main", rev: first.Commit, dir: "../etc", want: ".."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.ReadAt(ctx, tc.branch, tc.rev, tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.notFound != errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want it to contain %q (not found: %v)", err, tc.want, tc.notFound)
			}
		})
	}
}
