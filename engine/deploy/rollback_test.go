package deploy_test

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/manifest"
)

// push is one push to a ref, as its Delivery records it, and the Release built from it.
type push struct {
	n          int // names the commit, image, delivery and release
	before     int // the commit the push moved the ref from (0: none)
	receivedAt time.Time
	ref        string
}

func commitSHA(n int) string {
	return fmt.Sprintf("%x", sha1.Sum(fmt.Appendf(nil, "commit %d", n))) //nolint:gosec // a made-up commit id
}

func imageOf(n int) string {
	return fmt.Sprintf("127.0.0.1:5000/apps/acme/hello@sha256:%064x", n)
}

// createPush creates the Delivery and the Release of p.
func createPush(t *testing.T, c client.Client, ns, app string, p push) *v1alpha1.Release {
	t.Helper()
	ref := p.ref
	if ref == "" {
		ref = "refs/heads/main"
	}
	d := &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("github-push-%d", p.n)},
		Spec: v1alpha1.DeliverySpec{Provider: "github", DeliveryID: fmt.Sprintf("push-%d", p.n), Event: "push",
			Ref: ref, After: commitSHA(p.n), ReceivedAt: metav1.NewTime(p.receivedAt)},
	}
	if p.before != 0 {
		d.Spec.Before = commitSHA(p.before)
	}
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	rel := &v1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-r%d", app, p.n)},
		Spec: v1alpha1.ReleaseSpec{Application: app, SourceSHA: commitSHA(p.n), Ref: ref, Image: imageOf(p.n),
			Delivery: d.Name},
	}
	if err := c.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
	return rel
}

// ReadAt returns the files of the commit to dir that answered revision, as the config repo's
// history holds them.
func (c *recordingCommitter) ReadAt(_ context.Context, revision, dir string) ([]manifest.File, error) {
	c.mu.Lock()
	commits := slices.Clone(c.commits)
	c.mu.Unlock()
	for _, cm := range commits {
		h := sha256.New()
		h.Write([]byte(cm.Dir))
		for _, f := range cm.Files {
			h.Write([]byte(f.Path + "\x00"))
			h.Write(f.Data)
		}
		if cm.Dir == dir && hex.EncodeToString(h.Sum(nil))[:40] == revision {
			return cm.Files, nil
		}
	}
	return nil, fmt.Errorf("no commit %s of %s", revision, dir)
}

// deployedFile is the content of the last commit to dir.
func (c *recordingCommitter) deployedFile(t *testing.T, dir string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.commits) - 1; i >= 0; i-- {
		if c.commits[i].Dir == dir {
			return string(c.commits[i].Files[0].Data)
		}
	}
	return ""
}

// deployedImage is the image in the last commit to dir.
func (c *recordingCommitter) deployedImage(t *testing.T, dir string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.commits) - 1; i >= 0; i-- {
		if c.commits[i].Dir == dir {
			for line := range strings.SplitSeq(string(c.commits[i].Files[0].Data), "\n") {
				if img, ok := strings.CutPrefix(line, "image: "); ok {
					return img
				}
			}
		}
	}
	return ""
}

func appEnv(t *testing.T, c client.Client, ns, app, env string) v1alpha1.EnvironmentStatus {
	t.Helper()
	for _, e := range getApp(t, c, ns, app).Status.Environments {
		if e.Name == env {
			return e
		}
	}
	return v1alpha1.EnvironmentStatus{}
}

func releaseEnv(t *testing.T, c client.Client, rel *v1alpha1.Release, env string) v1alpha1.ReleaseEnvironment {
	t.Helper()
	for _, e := range getRelease(t, c, rel).Status.Environments {
		if e.Name == env {
			return e
		}
	}
	return v1alpha1.ReleaseEnvironment{}
}

// TestOutOfOrder finishes an older push's Release after a newer one's: it must not replace
// the newer deployment, and says why. Releases of another ref, and a newer Release finishing
// last, deploy.
func TestOutOfOrder(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	tests := []struct {
		name       string
		first      push // finishes first and is deployed
		second     push // finishes second
		wantDeploy bool
	}{
		{name: "older push by receive time finishes last",
			first: push{n: 2, receivedAt: t0.Add(10 * time.Second)}, second: push{n: 1, receivedAt: t0}},
		{name: "older push by the ref's chain, same second",
			first: push{n: 2, before: 1, receivedAt: t0}, second: push{n: 1, receivedAt: t0}},
		{name: "chain wins over clocks",
			first: push{n: 2, receivedAt: t0}, second: push{n: 3, before: 2, receivedAt: t0.Add(-time.Minute)}, wantDeploy: true},
		{name: "newer push finishes last",
			first: push{n: 1, receivedAt: t0}, second: push{n: 2, receivedAt: t0.Add(time.Second)}, wantDeploy: true},
		{name: "another ref is not ordered",
			first: push{n: 2, receivedAt: t0.Add(10 * time.Second)}, second: push{n: 1, receivedAt: t0, ref: "refs/heads/hotfix"}, wantDeploy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			committer := &recordingCommitter{}
			r := &deploy.Reconciler{Client: c, APIReader: c, Renderer: echoRenderer{}, Committer: committer, Log: testLogger(t)}
			createApp(t, c, ns, "hello", []v1alpha1.Environment{{Name: "staging"}})
			dir := deploy.Dir("staging", "hello")
			first := createPush(t, c, ns, "hello", tt.first)
			reconcile(t, r, first)
			second := createPush(t, c, ns, "hello", tt.second)
			reconcile(t, r, second)

			want := first
			if tt.wantDeploy {
				want = second
			}
			if got := committer.deployedImage(t, dir); got != want.Spec.Image {
				t.Errorf("config repo deploys %s, want %s (of %s)", got, want.Spec.Image, want.Name)
			}
			if got := appEnv(t, c, ns, "hello", "staging").Release; got != want.Name {
				t.Errorf("application's staging release = %s, want %s", got, want.Name)
			}
			st := releaseEnv(t, c, second, "staging")
			if tt.wantDeploy {
				if st.Phase != deploy.PhaseCommitted {
					t.Errorf("second release's staging phase = %q (%s), want Committed", st.Phase, st.Message)
				}
				return
			}
			if st.Phase != deploy.PhaseSuperseded || !strings.Contains(st.Message, first.Name) || st.ConfigRevision != "" {
				t.Errorf("second release's staging = %+v, want Superseded naming %s", st, first.Name)
			}
			if ready := meta.FindStatusCondition(getRelease(t, c, second).Status.Conditions, v1alpha1.ConditionReady); ready == nil || ready.Reason != v1alpha1.ReasonSuperseded {
				t.Errorf("second release Ready = %+v, want reason Superseded", ready)
			}
			if n := len(committer.dirs()); n != 1 {
				t.Errorf("%d commits, want 1", n)
			}
			t.Logf("skipped: %s", st.Message)
		})
	}
}

// TestRollback deploys R1 then R2, rolls back to R1 (the default: the one before the current),
// then forward again with --to, and checks the refusals.
func TestRollback(t *testing.T) {
	c, ns := testNamespace(t)
	committer, notifier := &recordingCommitter{}, &countingNotifier{}
	r := &deploy.Reconciler{Client: c, APIReader: c, Renderer: echoRenderer{}, Committer: committer, Notifier: notifier, Log: testLogger(t)}
	createApp(t, c, ns, "hello", []v1alpha1.Environment{{Name: "staging"}, {Name: "production"}})
	createApp(t, c, ns, "other", []v1alpha1.Environment{{Name: "staging"}})
	dir := deploy.Dir("staging", "hello")
	t0 := time.Now().Add(-time.Hour)
	r1 := createPush(t, c, ns, "hello", push{n: 1, receivedAt: t0})
	reconcile(t, r, r1)
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second resolution
	r2 := createPush(t, c, ns, "hello", push{n: 2, before: 1, receivedAt: t0.Add(time.Minute)})
	reconcile(t, r, r2)
	if got := appEnv(t, c, ns, "hello", "staging").Release; got != r2.Name {
		t.Fatalf("before the rollback staging runs %s, want %s", got, r2.Name)
	}
	otherRel := createPush(t, c, ns, "other", push{n: 3, receivedAt: t0})
	r1Files := r1Manifests(t, committer, dir)
	// The Application's configuration changes after R2 (here: the namespace the renderer writes).
	app := getApp(t, c, ns, "hello")
	app.Spec.Environments[0].Namespace = "hello-moved"
	if err := c.Update(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	none, err := deploy.RequestRollback(t.Context(), c, ns, "hello", "production", r1.Name)
	if !errors.Is(err, deploy.ErrRollback) || !strings.Contains(err.Error(), "never ran in production") || none != nil {
		t.Errorf("rollback of production to %s, which never ran there: %v, want ErrRollback saying so", r1.Name, err)
	}

	rolled, err := deploy.RequestRollback(t.Context(), c, ns, "hello", "staging", "")
	if err != nil {
		t.Fatal(err)
	}
	if rolled.Name != r1.Name {
		t.Fatalf("rollback chose %s, want the previous release %s", rolled.Name, r1.Name)
	}
	notified := notifier.n
	reconcile(t, r, r1)
	if got := committer.deployedImage(t, dir); got != r1.Spec.Image {
		t.Errorf("after the rollback the config repo deploys %s, want R1's %s", got, r1.Spec.Image)
	}
	if got := committer.deployedFile(t, dir); got != r1Files {
		t.Errorf("after the rollback the config repo holds\n%s\nwant R1's manifests as committed, not the current spec rendered:\n%s", got, r1Files)
	}
	env := appEnv(t, c, ns, "hello", "staging")
	if env.Release != r1.Name || env.Image != r1.Spec.Image || env.Sync != "Pending" {
		t.Errorf("application's staging after the rollback = %+v, want %s, its image, sync Pending", env, r1.Name)
	}
	if latest := getApp(t, c, ns, "hello").Status.LatestRelease; latest != r2.Name {
		t.Errorf("latestRelease = %s, want it left at %s", latest, r2.Name)
	}
	if st := releaseEnv(t, c, r1, "staging"); st.Phase != deploy.PhaseCommitted || !strings.Contains(st.Message, r2.Name) {
		t.Errorf("R1 staging = %+v, want Committed, rolled back from %s", st, r2.Name)
	}
	if st := releaseEnv(t, c, r2, "staging"); st.Phase != deploy.PhaseRolledBack {
		t.Errorf("R2 staging = %+v, want RolledBack", st)
	}
	if a := getRelease(t, c, r1).Annotations; len(a) != 0 {
		t.Errorf("R1 annotations after the rollback = %v, want the request removed", a)
	}
	if notifier.n != notified+1 {
		t.Errorf("syncer notified %d times by the rollback, want 1", notifier.n-notified)
	}
	// Reconciling R2 again must not put it back: it was deployed once.
	reconcile(t, r, r2)
	if got := committer.deployedImage(t, dir); got != r1.Spec.Image {
		t.Errorf("R2 redeployed itself after the rollback: config repo deploys %s", got)
	}

	// Forward again, naming the release.
	if _, err := deploy.RequestRollback(t.Context(), c, ns, "hello", "staging", r2.Name); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, r2)
	if got := appEnv(t, c, ns, "hello", "staging").Release; got != r2.Name {
		t.Errorf("after --to %s staging runs %s", r2.Name, got)
	}

	refusals := []struct {
		name, app, env, to, want string
	}{
		{name: "unknown release", app: "hello", env: "staging", to: "hello-nope", want: `release "hello-nope" not found`},
		{name: "release of another app", app: "hello", env: "staging", to: otherRel.Name, want: "belongs to application other, not hello"},
		{name: "already deployed", app: "hello", env: "staging", to: r2.Name, want: "already deployed to staging"},
		{name: "unknown environment", app: "hello", env: "qa", want: `has no environment "qa" (it has: staging, production)`},
		{name: "nothing deployed", app: "hello", env: "production", want: "nothing of hello is deployed to production"},
		{name: "unknown application", app: "nope", env: "staging", want: `application "nope" not found`},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deploy.RequestRollback(t.Context(), c, ns, tt.app, tt.env, tt.to)
			if !errors.Is(err, deploy.ErrRollback) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrRollback containing %q", err, tt.want)
			}
		})
	}
}

// r1Manifests is the first commit to dir: what R1 deployed.
func r1Manifests(t *testing.T, c *recordingCommitter, dir string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cm := range c.commits {
		if cm.Dir == dir {
			return string(cm.Files[0].Data)
		}
	}
	t.Fatalf("nothing committed to %s", dir)
	return ""
}
