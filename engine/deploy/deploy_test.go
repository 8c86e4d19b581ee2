package deploy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/internal/kubetest"
)

const (
	sha   = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	image = "127.0.0.1:5000/apps/acme/hello@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
)

// The Renderer, Committer and Notifier are interfaces this package declares for its own use;
// the fakes below stand in for the Helm renderer and the go-git config-repo writer, which have
// their own tests.

// echoRenderer renders one file naming the environment's namespace and the image.
type echoRenderer struct{}

func (echoRenderer) Render(_ context.Context, app *v1alpha1.Application, env v1alpha1.Environment, image string) ([]manifest.File, error) {
	return []manifest.File{{Path: "deployment.yaml",
		Data: fmt.Appendf(nil, "namespace: %s\nimage: %s\n", deploy.Namespace(app, env), image)}}, nil
}

// recordingCommitter keeps every commit and answers with a revision derived from the content, so
// that the same content gives the same revision, as the config-repo writer promises. before, if
// set, runs first and may fail the commit.
type recordingCommitter struct {
	mu      sync.Mutex
	commits []deploy.Commit
	before  func(deploy.Commit) error
}

func (c *recordingCommitter) Commit(_ context.Context, cm deploy.Commit) (string, error) {
	if c.before != nil {
		if err := c.before(cm); err != nil {
			return "", err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits = append(c.commits, cm)
	h := sha256.New()
	h.Write([]byte(cm.Dir))
	for _, f := range cm.Files {
		h.Write([]byte(f.Path + "\x00"))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))[:40], nil
}

func (c *recordingCommitter) dirs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, cm := range c.commits {
		out = append(out, cm.Dir)
	}
	return out
}

type countingNotifier struct{ n int }

func (n *countingNotifier) Notify(...string) { n.n++ }

func TestReconcile(t *testing.T) {
	approval := &v1alpha1.ApprovalPolicy{Approvers: []string{"alice"}}
	tests := []struct {
		name string
		envs []v1alpha1.Environment
		want []string // environments committed to, in order
	}{
		{
			name: "first environment only",
			envs: []v1alpha1.Environment{{Name: "staging"}, {Name: "production"}},
			want: []string{"staging"},
		},
		{
			name: "autoDeploy environments without approval",
			envs: []v1alpha1.Environment{{Name: "staging"}, {Name: "qa", AutoDeploy: true},
				{Name: "production", AutoDeploy: true, Approval: approval}},
			want: []string{"staging", "qa"},
		},
		{
			name: "first environment needs approval",
			envs: []v1alpha1.Environment{{Name: "staging", Approval: approval}, {Name: "production"}},
		},
		{
			name: "first environment needs approval, a later one deploys automatically",
			envs: []v1alpha1.Environment{{Name: "staging", Approval: approval}, {Name: "preview", AutoDeploy: true}},
			want: []string{"preview"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			committer, notifier := &recordingCommitter{}, &countingNotifier{}
			r := &deploy.Reconciler{Client: c, Renderer: echoRenderer{}, Committer: committer, Notifier: notifier, Log: testLogger(t)}
			createApp(t, c, ns, "hello", tt.envs)
			rel := createRelease(t, c, ns, "hello")
			reconcile(t, r, rel)

			var wantDirs []string
			for _, env := range tt.want {
				wantDirs = append(wantDirs, deploy.Dir(env, "hello"))
			}
			if got := committer.dirs(); !slices.Equal(got, wantDirs) {
				t.Fatalf("commits to %q, want %q", got, wantDirs)
			}
			if wantN := min(len(tt.want), 1); notifier.n != wantN {
				t.Errorf("notified %d times, want %d", notifier.n, wantN)
			}
			for _, cm := range committer.commits {
				checkCommit(t, cm, rel)
			}

			got := getRelease(t, c, rel)
			app := getApp(t, c, ns, "hello")
			if len(tt.want) == 0 {
				if len(got.Status.Environments) != 0 || len(app.Status.Environments) != 0 || app.Status.LatestRelease != "" {
					t.Errorf("release status %+v, application status %+v; want both untouched", got.Status, app.Status)
				}
				return
			}
			var envs []string
			for _, e := range got.Status.Environments {
				envs = append(envs, e.Name)
				if e.Phase != deploy.PhaseCommitted || len(e.ConfigRevision) != 40 || e.UpdatedAt == nil {
					t.Errorf("release environment %+v, want phase %s with a config revision", e, deploy.PhaseCommitted)
				}
			}
			if !slices.Equal(envs, tt.want) {
				t.Errorf("release environments %q, want %q", envs, tt.want)
			}
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonProgressing {
				t.Errorf("release Ready = %+v, want False/%s until synced", ready, v1alpha1.ReasonProgressing)
			}
			checkAppStatus(t, app, got)

			t.Run("reconciled again", func(t *testing.T) {
				before := len(committer.dirs())
				reconcile(t, r, rel)
				if n := len(committer.dirs()); n != before {
					t.Errorf("%d commits after a second reconcile, want %d", n, before)
				}
				if notifier.n != 1 {
					t.Errorf("notified %d times, want 1", notifier.n)
				}
			})
		})
	}
}

// TestReconcileCommitFails proves that a failed commit is recorded on the Release, returned for a
// retry, and that the retry deploys.
func TestReconcileCommitFails(t *testing.T) {
	c, ns := testNamespace(t)
	broken := true
	committer := &recordingCommitter{before: func(deploy.Commit) error {
		if broken {
			return errors.New("push rejected")
		}
		return nil
	}}
	r := &deploy.Reconciler{Client: c, Renderer: echoRenderer{}, Committer: committer, Log: testLogger(t)}
	createApp(t, c, ns, "hello", []v1alpha1.Environment{{Name: "staging"}})
	rel := createRelease(t, c, ns, "hello")

	_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rel)})
	if err == nil || !strings.Contains(err.Error(), "push rejected") {
		t.Fatalf("Reconcile = %v, want the commit's error", err)
	}
	got := getRelease(t, c, rel)
	if len(got.Status.Environments) != 1 || got.Status.Environments[0].Phase != deploy.PhaseFailed ||
		!strings.Contains(got.Status.Environments[0].Message, "push rejected") {
		t.Errorf("release environments = %+v, want staging Failed with the error", got.Status.Environments)
	}
	if ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); ready == nil || ready.Reason != v1alpha1.ReasonFailed {
		t.Errorf("release Ready = %+v, want reason %s", ready, v1alpha1.ReasonFailed)
	}

	broken = false
	reconcile(t, r, rel)
	got = getRelease(t, c, rel)
	if len(got.Status.Environments) != 1 || got.Status.Environments[0].Phase != deploy.PhaseCommitted || got.Status.Environments[0].Message != "" {
		t.Errorf("release environments = %+v, want staging Committed", got.Status.Environments)
	}
	checkAppStatus(t, getApp(t, c, ns, "hello"), got)
}

// TestReconcileConcurrentAppStatus proves that the Application's status still records the commit
// when someone else (the syncer reporting health) writes it while the commit is being made.
func TestReconcileConcurrentAppStatus(t *testing.T) {
	c, ns := testNamespace(t)
	committer := &recordingCommitter{before: func(deploy.Commit) error {
		app := getApp(t, c, ns, "hello")
		meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionStalled,
			Status: metav1.ConditionFalse, Reason: "Synced", Message: "written by the syncer"})
		return c.Status().Update(t.Context(), app)
	}}
	r := &deploy.Reconciler{Client: c, Renderer: echoRenderer{}, Committer: committer, Log: testLogger(t)}
	createApp(t, c, ns, "hello", []v1alpha1.Environment{{Name: "staging"}})
	rel := createRelease(t, c, ns, "hello")

	// A controller retries a failed reconcile; allow it a few.
	for i := 0; ; i++ {
		_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rel)})
		if err == nil {
			break
		}
		if i == 3 {
			t.Fatalf("Reconcile: %v", err)
		}
		t.Logf("Reconcile (retried): %v", err)
	}
	app := getApp(t, c, ns, "hello")
	checkAppStatus(t, app, getRelease(t, c, rel))
	if meta.FindStatusCondition(app.Status.Conditions, v1alpha1.ConditionStalled) == nil {
		t.Errorf("the concurrent writer's condition was lost: %+v", app.Status.Conditions)
	}
}

func TestReconcileGone(t *testing.T) {
	c, ns := testNamespace(t)
	committer := &recordingCommitter{}
	r := &deploy.Reconciler{Client: c, Renderer: echoRenderer{}, Committer: committer, Log: testLogger(t)}
	t.Run("release deleted", func(t *testing.T) {
		if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "gone"}}); err != nil {
			t.Error(err)
		}
	})
	t.Run("application deleted", func(t *testing.T) {
		reconcile(t, r, createRelease(t, c, ns, "orphan"))
		if len(committer.dirs()) != 0 {
			t.Errorf("commits %q, want none", committer.dirs())
		}
	})
}

// checkCommit checks what a commit says about the Release it deploys.
func checkCommit(t *testing.T, cm deploy.Commit, rel *v1alpha1.Release) {
	t.Helper()
	env := strings.Split(cm.Dir, "/")[1]
	if want := fmt.Sprintf("Deploy hello %s to %s", sha[:12], env); cm.Subject != want {
		t.Errorf("subject = %q, want %q", cm.Subject, want)
	}
	trailers := map[string]string{}
	for _, tr := range cm.Trailers {
		trailers[tr[0]] = tr[1]
	}
	for k, v := range map[string]string{"Source-Commit": sha, "Image-Digest": image, "Slipway-Release": rel.Name,
		"Slipway-Delivery": rel.Spec.Delivery} {
		if trailers[k] != v {
			t.Errorf("trailer %s = %q, want %q", k, trailers[k], v)
		}
	}
	if len(cm.Files) != 1 || !strings.Contains(string(cm.Files[0].Data), "image: "+image) ||
		!strings.Contains(string(cm.Files[0].Data), "namespace: hello-"+env) {
		t.Errorf("files = %q, want the rendered manifests for %s", cm.Files, env)
	}
}

// checkAppStatus checks that the Application's status records every environment the Release
// was committed to.
func checkAppStatus(t *testing.T, app *v1alpha1.Application, rel *v1alpha1.Release) {
	t.Helper()
	if app.Status.LatestRelease != rel.Name {
		t.Errorf("application latestRelease = %q, want %q", app.Status.LatestRelease, rel.Name)
	}
	for _, re := range rel.Status.Environments {
		i := slices.IndexFunc(app.Status.Environments, func(e v1alpha1.EnvironmentStatus) bool { return e.Name == re.Name })
		if i < 0 {
			t.Errorf("application status has no environment %s: %+v", re.Name, app.Status.Environments)
			continue
		}
		e := app.Status.Environments[i]
		if e.Release != rel.Name || e.Image != image || e.ConfigRevision != re.ConfigRevision || e.Sync != "Pending" {
			t.Errorf("application environment %+v, want release %s, image, revision %s, sync Pending", e, rel.Name, re.ConfigRevision)
		}
	}
	ready := meta.FindStatusCondition(app.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Reason != v1alpha1.ReasonProgressing || !strings.Contains(ready.Message, rel.Name) {
		t.Errorf("application Ready = %+v, want Progressing for %s", ready, rel.Name)
	}
}

func createApp(t *testing.T, c client.Client, ns, name string, envs []v1alpha1.Environment) {
	t.Helper()
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git"},
			Services:     []v1alpha1.Service{{Name: "web"}},
			Environments: envs,
		},
	}
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
}

func createRelease(t *testing.T, c client.Client, ns, app string) *v1alpha1.Release {
	t.Helper()
	rel := &v1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app + "-" + sha[:12]},
		Spec: v1alpha1.ReleaseSpec{Application: app, SourceSHA: sha, Ref: "refs/heads/main", Image: image,
			Delivery: "github-72d3162e-cc78-11e3-81ab-4c9367dc0958", PipelineRun: app + "-deploy-be63801201"},
	}
	if err := c.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
	return rel
}

func getRelease(t *testing.T, c client.Client, rel *v1alpha1.Release) *v1alpha1.Release {
	t.Helper()
	var got v1alpha1.Release
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(rel), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func getApp(t *testing.T, c client.Client, ns, name string) *v1alpha1.Application {
	t.Helper()
	var got v1alpha1.Application
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func reconcile(t *testing.T, r *deploy.Reconciler, rel *v1alpha1.Release) {
	t.Helper()
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rel)}); err != nil {
		t.Fatalf("Reconcile %s: %v", rel.Name, err)
	}
}

func testLogger(t *testing.T) *slog.Logger { return kubetest.Logger(t) }

// apiServer is this package's one local API server, shared by its tests.
var apiServer = kubetest.New("deploy")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// testNamespace returns a client of the shared API server and a new namespace for the test.
func testNamespace(t *testing.T) (client.Client, string) { return apiServer.Namespace(t) }
