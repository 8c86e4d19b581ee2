package trigger_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/gitfetch"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/trigger"
)

func TestTagMatches(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		tag      string
		want     bool
		wantErr  string
	}{
		{name: "no patterns", tag: "v1.0.0"},
		{name: "prefix", patterns: []string{"v*"}, tag: "v1.0.0", want: true},
		{name: "exact", patterns: []string{"stable"}, tag: "stable", want: true},
		{name: "second pattern", patterns: []string{"release/*", "v[0-9]*"}, tag: "v2", want: true},
		{name: "class does not match", patterns: []string{"v[0-9]*"}, tag: "vnext"},
		{name: "star does not cross a slash", patterns: []string{"v*"}, tag: "v1/rc"},
		{name: "directory pattern", patterns: []string{"release/*"}, tag: "release/2026.1", want: true},
		{name: "malformed pattern", patterns: []string{"v*", "["}, tag: "x", wantErr: `spec.source.tags[1] "[" is not a valid pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trigger.TagMatches(tt.patterns, tt.tag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("TagMatches = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("TagMatches = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// tagRepo is a real repository, served over smart HTTP, with an annotated tag v1.2.0 on its
// first commit and a second commit on main.
type tagRepo struct {
	url                  string
	tagged, tagObj, head string
}

func newTagRepo(t *testing.T) tagRepo {
	t.Helper()
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	src, root := t.TempDir(), t.TempDir()
	git(src, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(src, "VERSION"), []byte("1.2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(src, "add", ".")
	git(src, "commit", "-qm", "one")
	var r tagRepo
	r.tagged = git(src, "rev-parse", "HEAD")
	git(src, "tag", "-a", "v1.2.0", "-m", "release 1.2.0")
	r.tagObj = git(src, "rev-parse", "v1.2.0")
	if r.tagObj == r.tagged || git(src, "cat-file", "-t", r.tagObj) != "tag" {
		t.Fatal("test setup: v1.2.0 is not an annotated tag")
	}
	if err := os.WriteFile(filepath.Join(src, "VERSION"), []byte("1.3.0-dev\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(src, "commit", "-qam", "two")
	r.head = git(src, "rev-parse", "HEAD")
	git(root, "clone", "-q", "--bare", src, "hello.git")
	srv := httptest.NewServer(gitserver.New(root))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hello.git"
	return r
}

// TestReconcileTag pushes a real annotated tag through the trigger: the Application whose
// spec.source.tags matches gets one deploy run of the tag object through the tag's ref, and the
// git-clone step, run with that run's params, checks out the tagged commit.
func TestReconcileTag(t *testing.T) {
	repo := newTagRepo(t)
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	for name, tags := range map[string][]string{"hello": {"v*"}, "branch-only": nil, "releases": {"release/*"}} {
		app := sampleApplication(ns, name)
		app.Spec.Source.RepoURL, app.Spec.Source.Tags = repo.url, tags
		if err := c.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}
	tagDelivery := func(name, ref, before, after string) *v1alpha1.Delivery {
		d := sampleDelivery(ns, name)
		d.Spec.Event, d.Spec.RepoURL, d.Spec.Ref, d.Spec.Before, d.Spec.After = "tag", repo.url, ref, before, after
		if err := c.Create(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
			t.Fatal(err)
		}
		return getDelivery(t, c, d)
	}

	d := tagDelivery("github-tag-v1-2-0", "refs/tags/v1.2.0", strings.Repeat("0", 40), repo.tagObj)
	ready := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != v1alpha1.ReasonSucceeded {
		t.Fatalf("Ready = %+v, want True/Succeeded", ready)
	}
	runs := listRuns(t, c, ns)
	if len(runs) != 1 || runs[0].Labels[v1alpha1.LabelApplication] != "hello" {
		t.Fatalf("%d runs (%v), want one, for hello", len(runs), runs)
	}
	pr := runs[0]
	if want := trigger.RunName("hello", d.Name, trigger.FlowDeploy); pr.Name != want || pr.Labels[v1alpha1.LabelFlow] != trigger.FlowDeploy {
		t.Errorf("run %s flow %s, want the deploy run %s", pr.Name, pr.Labels[v1alpha1.LabelFlow], want)
	}
	params := map[string]string{}
	for _, p := range pr.Spec.Params {
		params[p.Name] = p.Value.StringVal
	}
	if params["revision"] != repo.tagObj || params["ref"] != "refs/tags/v1.2.0" || pr.Annotations[v1alpha1.AnnotationRef] != "refs/tags/v1.2.0" {
		t.Errorf("revision %s ref %s (annotation %s), want the tag object %s through refs/tags/v1.2.0",
			params["revision"], params["ref"], pr.Annotations[v1alpha1.AnnotationRef], repo.tagObj)
	}

	// The pipeline's git-clone step with the run's params: the tag object is peeled.
	dir := filepath.Join(t.TempDir(), "src")
	commit, err := gitfetch.Fetch(t.Context(), gitfetch.Options{URL: params["repo-url"], Revision: params["revision"], Ref: params["ref"], Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if commit != repo.tagged {
		t.Errorf("git-clone checked out %s, want the tagged commit %s (not the tag object %s or main's %s)", commit, repo.tagged, repo.tagObj, repo.head)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "VERSION")); string(b) != "1.2.0\n" {
		t.Errorf("VERSION = %q, want the tagged tree's 1.2.0", b)
	}

	for _, tt := range []struct {
		name, ref, after, reason string
	}{
		{name: "github-tag-nightly", ref: "refs/tags/nightly", after: repo.tagObj, reason: v1alpha1.ReasonNoApplication},
		{name: "github-tag-deleted", ref: "refs/tags/v1.2.0", after: strings.Repeat("0", 40), reason: v1alpha1.ReasonIgnored},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := tagDelivery(tt.name, tt.ref, repo.tagObj, tt.after)
			ready := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != tt.reason || len(d.Status.Triggered) != 0 {
				t.Errorf("Ready = %+v, triggered %v; want True/%s and nothing", ready, d.Status.Triggered, tt.reason)
			}
		})
	}
	if n := len(listRuns(t, c, ns)); n != 1 {
		t.Errorf("%d runs, want still 1", n)
	}
}

// TestReconcileTagBadPattern proves that a malformed tag pattern is reported on the Delivery, as
// an invalid spec naming the pattern, while another Application of the repository still deploys.
func TestReconcileTagBadPattern(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	for name, tags := range map[string][]string{"bad": {"v[0-"}, "good": {"v*"}} {
		app := sampleApplication(ns, name)
		app.Spec.Source.Tags = tags
		if err := c.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}
	d := sampleDelivery(ns, "github-tag-bad")
	d.Spec.Event, d.Spec.Ref, d.Spec.Before = "tag", "refs/tags/v1", ""
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
		t.Fatal(err)
	}
	got := getDelivery(t, c, d)
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Reason != v1alpha1.ReasonInvalidSpec || !strings.Contains(ready.Message, `spec.source.tags[0] "v[0-"`) {
		t.Errorf("Ready = %+v, want InvalidSpec naming spec.source.tags[0]", ready)
	}
	runs := listRuns(t, c, ns)
	if len(runs) != 1 || runs[0].Labels[v1alpha1.LabelApplication] != "good" {
		t.Errorf("%d runs, want one, for good", len(runs))
	}
}
