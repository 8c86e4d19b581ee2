package syncer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"slipway.dev/slipway/engine/manifest"
)

// branchSource is memSource with Head and whole-branch reads, as the config-repo writer has,
// so the Syncer reads it through shared snapshots.
type branchSource struct{ memSource }

func (b *branchSource) Head(_ context.Context, branch string) (string, error) {
	rev, _, err := b.Read(context.Background(), branch, "")
	return rev, err
}

func (b *branchSource) Read(ctx context.Context, branch, dir string) (string, []manifest.File, error) {
	if dir != "" {
		return b.memSource.Read(ctx, branch, dir)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var all []manifest.File
	for key, files := range b.files {
		br, d, _ := strings.Cut(key, ":")
		if br != branch {
			continue
		}
		for _, f := range files {
			all = append(all, manifest.File{Path: d + "/" + f.Path, Data: f.Data})
		}
	}
	return fmt.Sprintf("rev%040d", b.rev), all, nil
}

// TestRefresh: a refresh nudges the targets whose directory changed since their last
// successful sync, and those that never synced, and no other; through snapshots of the
// branch and through per-directory reads alike.
func TestRefresh(t *testing.T) {
	cfg := startControlPlane(t)
	for _, tc := range []struct {
		name string
		src  interface {
			Source
			set(branch, dir string, files ...manifest.File)
		}
	}{
		{"branch snapshots", &branchSource{}},
		{"per-directory reads", &memSource{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			prefix := strings.ReplaceAll(tc.name, " ", "-")
			var targets []Target
			for _, app := range []string{"a", "b", "c"} {
				ns := prefix + "-" + app
				tgt := Target{Name: ns, Branch: "main", Dir: "environments/dev/" + ns, Namespace: ns}
				tc.src.set("main", tgt.Dir, nsFile(ns), configMapFile("settings", "0"))
				targets = append(targets, tgt)
			}
			other := Target{Name: prefix + "-other", Branch: "release", Dir: "environments/dev/other", Namespace: prefix + "-other"}
			tc.src.set("release", other.Dir, nsFile(other.Namespace))
			s, err := New(cfg, tc.src, WithTargets(append(targets, other)...))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			a, b, c := targets[0], targets[1], targets[2]
			for _, tgt := range []Target{a, b} {
				if _, err := s.SyncOnce(ctx, tgt); err != nil {
					t.Fatal(err)
				}
			}
			drain := func() []string {
				var nudged []string
				s.mu.Lock()
				defer s.mu.Unlock()
				for name, ch := range s.nudges {
					select {
					case <-ch:
						nudged = append(nudged, name)
					default:
					}
				}
				slices.Sort(nudged)
				return nudged
			}
			// Syncs cause watch events that nudge targets too; only the refresh's own are checked.
			check := func(what string, want ...string) {
				t.Helper()
				drain()
				got, err := s.Refresh(ctx, "main")
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: refreshed %q, want %q", what, got, want)
				}
				nudged := drain()
				for _, name := range want {
					if !slices.Contains(nudged, name) {
						t.Errorf("%s: %s not nudged (nudged: %q)", what, name, nudged)
					}
				}
			}
			check("nothing changed since a and b synced: only c, never synced", c.Name)

			// A commit elsewhere on the branch moves its revision but not a's or b's files.
			tc.src.set("main", c.Dir, nsFile(c.Namespace), configMapFile("settings", "1"))
			check("c changed, a and b did not", c.Name)

			tc.src.set("main", b.Dir, nsFile(b.Namespace), configMapFile("settings", "2"))
			check("b changed", b.Name, c.Name)
			if _, err := s.SyncOnce(ctx, b); err != nil {
				t.Fatal(err)
			}
			check("b synced again", c.Name)
			if got, err := s.Refresh(ctx, "feature"); err != nil || len(got) != 0 {
				t.Errorf("refresh of a branch without targets = %q, %v; want none", got, err)
			}
		})
	}
}
