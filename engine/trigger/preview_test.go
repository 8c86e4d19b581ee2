package trigger_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/trigger"
)

const (
	head1 = "1111111111111111111111111111111111111111"
	head2 = "2222222222222222222222222222222222222222"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// step is one delivery of a pull-request scenario.
type step struct {
	event, author, head, before, comment string
	fork                                 bool
	at                                   int // seconds after t0
}

func (s step) delivery(ns string, i int) *v1alpha1.Delivery {
	d := &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("github-pr-%d", i)},
		Spec: v1alpha1.DeliverySpec{
			Provider: "github", DeliveryID: fmt.Sprintf("pr-%d", i), Event: s.event,
			RepoURL: "https://github.com/acme/hello.git", RepoFullName: "acme/hello",
			Ref: "refs/pull/7/head", Author: s.author, Comment: s.comment, Before: s.before,
			PullRequest: &v1alpha1.PullRequestRef{Number: 7, HeadRef: "feature", HeadSHA: s.head, BaseRef: "main", Fork: s.fork},
			ReceivedAt:  metav1.NewTime(t0.Add(time.Duration(s.at) * time.Second)),
		},
	}
	if s.event == "pr-comment" {
		d.Spec.Ref, d.Spec.PullRequest.HeadSHA, d.Spec.PullRequest.HeadRef, d.Spec.PullRequest.Fork = "", "", "", false
	}
	return d
}

func previewApplication(ns string) *v1alpha1.Application {
	app := sampleApplication(ns, "hello")
	app.Spec.Source.Maintainers = []string{"Maria"}
	app.Spec.Previews = &v1alpha1.PreviewPolicy{Enabled: true, TrustedAuthors: []string{"tom"}}
	app.Spec.Build.MaxConcurrentRuns = 10
	return app
}

func opened(author, head string, fork bool, at int) step {
	return step{event: "pr-opened", author: author, head: head, fork: fork, at: at}
}

func comment(author, body string, at int) step {
	return step{event: "pr-comment", author: author, comment: body, at: at}
}

// TestPullRequestTrust walks the trust matrix: who may run what, and when an approval counts.
func TestPullRequestTrust(t *testing.T) {
	tests := []struct {
		name       string
		app        func(*v1alpha1.Application)
		steps      []step
		wantRuns   []string // heads of the runs not cancelled
		wantReason string   // the last Delivery's Ready reason
		wantCmd    string   // the last Delivery's Command reason, if any
		wantMsg    string   // part of the last Delivery's Ready message
		wantReady  string   // the Preview's Ready reason
		wantApprov string   // the Preview's approved SHA
	}{
		{
			name:  "trusted author",
			steps: []step{opened("tom", head1, false, 0)}, wantRuns: []string{head1},
			wantReason: v1alpha1.ReasonSucceeded, wantReady: v1alpha1.ReasonProgressing,
		},
		{
			name:  "maintainer, compared case-insensitively",
			steps: []step{opened("maria", head1, false, 0)}, wantRuns: []string{head1},
			wantReason: v1alpha1.ReasonSucceeded,
		},
		{
			name:  "untrusted author",
			steps: []step{opened("eve", head1, false, 0)}, wantRuns: nil,
			wantReason: v1alpha1.ReasonAwaitingApproval, wantMsg: "its author is not trusted", wantReady: v1alpha1.ReasonAwaitingApproval,
		},
		{
			name:  "fork by a trusted author",
			steps: []step{opened("tom", head1, true, 0)}, wantRuns: nil,
			wantReason: v1alpha1.ReasonAwaitingApproval, wantMsg: "comes from a fork",
		},
		{
			name:  "fork denied, even when a maintainer approves",
			app:   func(a *v1alpha1.Application) { a.Spec.Previews.ForkPolicy = trigger.ForkDeny },
			steps: []step{opened("eve", head1, true, 0), comment("maria", "/ok-to-test", 1)}, wantRuns: nil,
			wantReason: v1alpha1.ReasonForkDenied, wantCmd: v1alpha1.ReasonForkDenied, wantReady: v1alpha1.ReasonForkDenied,
		},
		{
			name:     "maintainer approves a fork",
			steps:    []step{opened("eve", head1, true, 0), comment("maria", "LGTM\n/ok-to-test", 1)},
			wantRuns: []string{head1}, wantReason: v1alpha1.ReasonSucceeded, wantCmd: v1alpha1.ReasonApproved, wantApprov: head1,
		},
		{
			name: "approval then a new push needs a new approval",
			steps: []step{opened("eve", head1, true, 0), comment("maria", "/ok-to-test", 1),
				{event: "pr-updated", author: "eve", head: head2, before: head1, fork: true, at: 2}},
			wantRuns: nil, wantReason: v1alpha1.ReasonAwaitingApproval, wantMsg: "/ok-to-test on head 222222222222",
			wantReady: v1alpha1.ReasonAwaitingApproval, wantApprov: head1,
		},
		{
			name: "second approval of the new head",
			steps: []step{opened("eve", head1, true, 0), comment("maria", "/ok-to-test", 1),
				{event: "pr-updated", author: "eve", head: head2, before: head1, fork: true, at: 2}, comment("maria", "/ok-to-test", 3)},
			wantRuns: []string{head2}, wantReason: v1alpha1.ReasonSucceeded, wantCmd: v1alpha1.ReasonApproved, wantApprov: head2,
		},
		{
			name:     "/ok-to-test by the untrusted author",
			steps:    []step{opened("eve", head1, false, 0), comment("eve", "/ok-to-test", 1)},
			wantRuns: nil, wantReason: v1alpha1.ReasonUntrustedCommenter, wantMsg: "eve is not a maintainer",
		},
		{
			name:     "/ok-to-test by a trusted author who is no maintainer",
			steps:    []step{opened("eve", head1, false, 0), comment("tom", "/ok-to-test", 1)},
			wantRuns: nil, wantReason: v1alpha1.ReasonUntrustedCommenter,
		},
		{
			name:     "quoted /ok-to-test",
			steps:    []step{opened("eve", head1, false, 0), comment("maria", "> /ok-to-test\nwhy?", 1)},
			wantRuns: nil, wantReason: v1alpha1.ReasonNoCommand,
		},
		{
			name:     "/retest of a trusted pull request",
			steps:    []step{opened("tom", head1, false, 0), comment("tom", "/retest", 1)},
			wantRuns: []string{head1}, wantReason: v1alpha1.ReasonSucceeded, wantCmd: v1alpha1.ReasonSucceeded,
		},
		{
			name:     "/retest of an unapproved pull request",
			steps:    []step{opened("eve", head1, false, 0), comment("maria", "/retest", 1)},
			wantRuns: nil, wantReason: v1alpha1.ReasonAwaitingApproval, wantCmd: v1alpha1.ReasonAwaitingApproval,
		},
		{
			name:     "/retest by an untrusted user",
			steps:    []step{opened("tom", head1, false, 0), comment("eve", "/retest", 1)},
			wantRuns: []string{head1}, wantReason: v1alpha1.ReasonUntrustedCommenter, wantCmd: v1alpha1.ReasonUntrustedCommenter,
		},
		{
			name:     "/cancel",
			steps:    []step{opened("tom", head1, false, 0), comment("maria", "/cancel", 1)},
			wantRuns: nil, wantReason: v1alpha1.ReasonCancelled, wantMsg: "cancelled 1 run(s)",
		},
		{
			name:     "unknown command",
			steps:    []step{opened("tom", head1, false, 0), comment("maria", "/deploy", 1)},
			wantRuns: []string{head1}, wantReason: v1alpha1.ReasonUnknownCommand, wantMsg: `"/deploy" ignored`,
		},
		{
			name:     "closed, then /retest",
			steps:    []step{opened("tom", head1, false, 0), {event: "pr-closed", author: "tom", head: head1, at: 1}, comment("maria", "/retest", 2)},
			wantRuns: nil, wantReason: v1alpha1.ReasonIgnored, wantMsg: "is closed", wantReady: v1alpha1.ReasonClosed,
		},
		{
			name:       "previews disabled",
			app:        func(a *v1alpha1.Application) { a.Spec.Previews.Enabled = false },
			steps:      []step{opened("tom", head1, false, 0)},
			wantReason: v1alpha1.ReasonPreviewsDisabled,
		},
		{
			name: "an older head arriving late changes nothing",
			steps: []step{{event: "pr-updated", author: "tom", head: head2, before: head1, at: 5},
				opened("tom", head1, false, 6)},
			wantRuns: []string{head2}, wantReason: v1alpha1.ReasonSuperseded, wantMsg: "already moved on to head 222222222222",
		},
		{
			name: "a newer head cancels the older run",
			steps: []step{opened("tom", head1, false, 0),
				{event: "pr-updated", author: "tom", head: head2, before: head1, at: 1}},
			wantRuns: []string{head2}, wantReason: v1alpha1.ReasonSucceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
			app := previewApplication(ns)
			if tt.app != nil {
				tt.app(app)
			}
			if err := c.Create(t.Context(), app); err != nil {
				t.Fatal(err)
			}
			var last *v1alpha1.Delivery
			for i, s := range tt.steps {
				last = s.delivery(ns, i)
				reconcileDelivery(t, r, c, last)
			}
			got := getDelivery(t, c, last)
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Reason != tt.wantReason || !strings.Contains(ready.Message, tt.wantMsg) {
				t.Errorf("Ready = %+v, want reason %s, message containing %q", ready, tt.wantReason, tt.wantMsg)
			}
			if tt.wantCmd != "" {
				cmd := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionCommand)
				if cmd == nil || cmd.Reason != tt.wantCmd {
					t.Errorf("Command = %+v, want reason %s", cmd, tt.wantCmd)
				}
			}
			var heads []string
			for _, pr := range listRuns(t, c, ns) {
				if !pr.IsCancelled() && !pr.IsGracefullyCancelled() {
					heads = append(heads, pr.Labels[v1alpha1.LabelSHA])
				}
			}
			if !slices.Equal(heads, tt.wantRuns) {
				t.Errorf("heads of runs not cancelled = %v, want %v", heads, tt.wantRuns)
			}
			if tt.wantReady == "" && tt.wantApprov == "" {
				return
			}
			var p v1alpha1.Preview
			if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: trigger.PreviewName("hello", 7)}, &p); err != nil {
				t.Fatal(err)
			}
			if tt.wantReady != "" {
				if pr := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady); pr == nil || pr.Reason != tt.wantReady {
					t.Errorf("Preview Ready = %+v, want reason %s", pr, tt.wantReady)
				}
			}
			if tt.wantApprov != "" && (p.Status.Approval == nil || p.Status.Approval.SHA != tt.wantApprov) {
				t.Errorf("Preview approval = %+v, want head %s", p.Status.Approval, tt.wantApprov)
			}
		})
	}
}

// TestPullRequestRetestAndTeardown checks the details the matrix only counts: /retest makes a
// new run named for its comment and cancels the old one with a visible reason; a close cancels
// what is left and marks the Preview for teardown; a reopen clears the mark.
func TestPullRequestRetestAndTeardown(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	app := previewApplication(ns)
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	open := opened("tom", head1, false, 0).delivery(ns, 0)
	reconcileDelivery(t, r, c, open)
	retest := comment("maria", "/retest", 1).delivery(ns, 1)
	reconcileDelivery(t, r, c, retest)

	first := getRun(t, c, ns, trigger.RunName("hello", open.Name, trigger.FlowPreview))
	second := getRun(t, c, ns, trigger.RunName("hello", retest.Name, trigger.FlowPreview))
	if first.Spec.Status != tektonv1.PipelineRunSpecStatusCancelledRunFinally || first.Annotations[v1alpha1.AnnotationCancelledBy] != retest.Name {
		t.Errorf("first run: status %q, cancelled by %q; want CancelledRunFinally by %s", first.Spec.Status, first.Annotations[v1alpha1.AnnotationCancelledBy], retest.Name)
	}
	if second.Spec.Status != "" || second.Labels[v1alpha1.LabelSHA] != head1 || second.Labels[v1alpha1.LabelPullRequest] != "7" {
		t.Errorf("retest run: status %q, labels %v; want started, head %s, pull request 7", second.Spec.Status, second.Labels, head1)
	}
	if sup := meta.FindStatusCondition(getDelivery(t, c, open).Status.Conditions, v1alpha1.ConditionSuperseded); sup == nil || !strings.Contains(sup.Message, first.Name) {
		t.Errorf("opening delivery's Superseded = %+v, want it to name %s", sup, first.Name)
	}

	closed := step{event: "pr-merged", author: "tom", head: head1, at: 2}.delivery(ns, 2)
	reconcileDelivery(t, r, c, closed)
	if got := getRun(t, c, ns, second.Name); got.Spec.Status != tektonv1.PipelineRunSpecStatusCancelledRunFinally ||
		got.Annotations[v1alpha1.AnnotationCancelReason] != "pull request #7 merged" {
		t.Errorf("retest run after merge: status %q, reason %q", got.Spec.Status, got.Annotations[v1alpha1.AnnotationCancelReason])
	}
	p := getPreview(t, c, ns)
	if p.Status.ClosedAt == nil || fmt.Sprint(getDelivery(t, c, closed).Status.Triggered) != "[{hello teardown  0 0}]" {
		t.Errorf("after merge: closedAt %v, triggered %v", p.Status.ClosedAt, getDelivery(t, c, closed).Status.Triggered)
	}

	// An update sent before the merge but arriving after it changes nothing.
	late := step{event: "pr-updated", author: "tom", head: head2, before: head1, at: 1}.delivery(ns, 3)
	reconcileDelivery(t, r, c, late)
	if ready := meta.FindStatusCondition(getDelivery(t, c, late).Status.Conditions, v1alpha1.ConditionReady); ready.Reason != v1alpha1.ReasonSuperseded {
		t.Errorf("late update: Ready = %+v, want Superseded", ready)
	}

	reopened := step{event: "pr-reopened", author: "tom", head: head1, at: 4}.delivery(ns, 4)
	reconcileDelivery(t, r, c, reopened)
	if p := getPreview(t, c, ns); p.Status.ClosedAt != nil || p.Status.PipelineRun != trigger.RunName("hello", reopened.Name, trigger.FlowPreview) {
		t.Errorf("after reopen: closedAt %v, run %q", p.Status.ClosedAt, p.Status.PipelineRun)
	}
}

// TestPreviewRunGolden pins the PipelineRun of a pull request's head; refresh with -update.
func TestPreviewRunGolden(t *testing.T) {
	app := previewApplication("acme")
	d := opened("tom", head1, false, 0).delivery("acme", 0)
	p := &v1alpha1.Preview{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: trigger.PreviewName("hello", 7),
			Annotations: map[string]string{v1alpha1.AnnotationBefore: beforeSHA}},
		Spec: v1alpha1.PreviewSpec{Application: "hello", PullRequest: 7, HeadRef: "feature", HeadSHA: head1, Author: "tom"},
	}
	pr, err := trigger.PreviewRun(t.Context(), d, app, p, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "preview.yaml"), pr, "TestPreviewRunGolden")
}

func reconcileDelivery(t *testing.T, r *trigger.Reconciler, c client.Client, d *v1alpha1.Delivery) {
	t.Helper()
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
		t.Fatalf("reconcile %s: %v", d.Name, err)
	}
}

func getRun(t *testing.T, c client.Client, ns, name string) *tektonv1.PipelineRun {
	t.Helper()
	var pr tektonv1.PipelineRun
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &pr); err != nil {
		t.Fatal(err)
	}
	return &pr
}

func getPreview(t *testing.T, c client.Client, ns string) *v1alpha1.Preview {
	t.Helper()
	var p v1alpha1.Preview
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: trigger.PreviewName("hello", 7)}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// The preview run names the ref its head can be fetched from, so an abbreviated head SHA
// resolves in the git-clone step.
func TestPreviewRunRef(t *testing.T) {
	for provider, want := range map[string]string{
		"github": "refs/pull/7/head", "gitea": "refs/pull/7/head", "forgejo": "refs/pull/7/head",
		"gitlab": "refs/merge-requests/7/head", "bitbucket": "refs/heads/feature",
	} {
		app := sampleApplication("acme", "hello")
		app.Spec.Source.Provider = provider
		p := &v1alpha1.Preview{Spec: v1alpha1.PreviewSpec{Application: "hello", PullRequest: 7, HeadRef: "feature", HeadSHA: "ed0e0bfd9a94"}}
		pr, err := trigger.PreviewRun(t.Context(), sampleDelivery("acme", "bb-1"), app, p, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, param := range pr.Spec.Params {
			if param.Name == "ref" && param.Value.StringVal != want {
				t.Errorf("%s: ref = %q, want %q", provider, param.Value.StringVal, want)
			}
		}
	}
}
