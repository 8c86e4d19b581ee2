package trigger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/trigger"
)

// push is one push to main of the cancel-in-progress scenarios.
type push struct {
	before, after string
	at            int
}

func (p push) delivery(ns string, i int) *v1alpha1.Delivery {
	d := sampleDelivery(ns, fmt.Sprintf("github-push-%d", i))
	d.Spec.Before, d.Spec.After = p.before, p.after
	d.Spec.ReceivedAt = metav1.NewTime(t0.Add(time.Duration(p.at) * time.Second))
	return d
}

func sha(c byte) string { return strings.Repeat(string(c), 40) }

// TestCancelInProgress proves that a newer push cancels the older unfinished run of the same
// Application and branch, with the reason on the run and its Delivery, and that an older push
// arriving late neither cancels the newer run nor starts one of its own.
func TestCancelInProgress(t *testing.T) {
	tests := []struct {
		name          string
		pushes        []push
		finishFirst   bool
		wantCancelled []int // pushes whose run is cancelled
		wantNoRun     []int // pushes that start nothing
	}{
		{
			name:          "newer push cancels the older run",
			pushes:        []push{{sha('0'), sha('a'), 0}, {sha('a'), sha('b'), 1}},
			wantCancelled: []int{0},
		},
		{
			name:          "three pushes leave only the newest",
			pushes:        []push{{sha('0'), sha('a'), 0}, {sha('a'), sha('b'), 1}, {sha('b'), sha('c'), 2}},
			wantCancelled: []int{0, 1},
		},
		{
			name:      "older push arriving late, by the ref's chain",
			pushes:    []push{{sha('a'), sha('b'), 5}, {sha('0'), sha('a'), 6}}, // received later, but b builds on a
			wantNoRun: []int{1},
		},
		{
			name:      "older push arriving late, by receive time",
			pushes:    []push{{sha('x'), sha('b'), 5}, {sha('y'), sha('a'), 3}},
			wantNoRun: []int{1},
		},
		{
			name:        "finished runs are not cancelled",
			pushes:      []push{{sha('0'), sha('a'), 0}, {sha('a'), sha('b'), 1}},
			finishFirst: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
			app := sampleApplication(ns, "hello")
			app.Spec.Build.MaxConcurrentRuns = 10
			if err := c.Create(t.Context(), app); err != nil {
				t.Fatal(err)
			}
			var ds []*v1alpha1.Delivery
			for i, p := range tt.pushes {
				d := p.delivery(ns, i)
				ds = append(ds, d)
				reconcileDelivery(t, r, c, d)
				if i == 0 && tt.finishFirst {
					finishRun(t, c, ns, trigger.RunName("hello", d.Name, trigger.FlowDeploy))
				}
			}
			for i, d := range ds {
				name := trigger.RunName("hello", d.Name, trigger.FlowDeploy)
				got := getDelivery(t, c, d)
				if contains(tt.wantNoRun, i) {
					ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
					if ready == nil || ready.Reason != v1alpha1.ReasonSuperseded {
						t.Errorf("push %d: Ready = %+v, want Superseded", i, ready)
					}
					var pr tektonv1.PipelineRun
					if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &pr); err == nil {
						t.Errorf("push %d: run %s exists, want none", i, name)
					}
					continue
				}
				pr := getRun(t, c, ns, name)
				cancelled := pr.Spec.Status != ""
				if cancelled != contains(tt.wantCancelled, i) {
					t.Errorf("push %d: run %s spec.status = %q, want cancelled %v", i, name, pr.Spec.Status, !cancelled)
				}
				if !cancelled {
					continue
				}
				// Cancel-in-progress lets the run's finally report tell the provider.
				if pr.Spec.Status != tektonv1.PipelineRunSpecStatusCancelledRunFinally {
					t.Errorf("push %d: run %s spec.status = %q, want %s", i, name, pr.Spec.Status, tektonv1.PipelineRunSpecStatusCancelledRunFinally)
				}
				if by := pr.Annotations[v1alpha1.AnnotationCancelledBy]; by != ds[i+1].Name {
					t.Errorf("push %d: cancelled by %q, want the next push %s", i, by, ds[i+1].Name)
				}
				if reason := pr.Annotations[v1alpha1.AnnotationCancelReason]; !strings.Contains(reason, "superseded by push") {
					t.Errorf("push %d: cancel reason %q", i, reason)
				}
				sup := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSuperseded)
				if sup == nil || sup.Status != metav1.ConditionTrue || !strings.Contains(sup.Message, name) {
					t.Errorf("push %d: Superseded = %+v, want True naming %s", i, sup, name)
				}
			}
		})
	}
}

// TestQueue proves the per-Application limit: runs beyond it wait pending, in order, with their
// position on their Delivery; each finished or cancelled run starts the next; nothing is
// dropped; and a new Reconciler (a restart) carries on from the resources alone.
func TestQueue(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	app := previewApplication(ns)
	app.Spec.Build.MaxConcurrentRuns = 2
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	var ds []*v1alpha1.Delivery
	for i := range 5 {
		d := opened("tom", sha(byte('a'+i)), false, i).delivery(ns, i)
		d.Spec.PullRequest.Number = int64(10 + i)
		ds = append(ds, d)
		reconcileDelivery(t, r, c, d)
	}
	run := func(i int) *tektonv1.PipelineRun {
		return getRun(t, c, ns, trigger.RunName("hello", ds[i].Name, trigger.FlowPreview))
	}
	check := func(stage string, started []int, queue []int) {
		t.Helper()
		for i := range ds {
			pending := run(i).Spec.Status == tektonv1.PipelineRunSpecStatusPending
			d := getDelivery(t, c, ds[i])
			q := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionQueued)
			switch {
			case contains(started, i):
				if pending {
					t.Errorf("%s: run %d pending, want started", stage, i)
				}
				if q != nil && q.Status == metav1.ConditionTrue {
					t.Errorf("%s: delivery %d Queued = %+v, want not queued", stage, i, q)
				}
			case contains(queue, i):
				pos := indexOf(queue, i) + 1
				want := fmt.Sprintf("position %d of %d", pos, len(queue))
				if !pending {
					t.Errorf("%s: run %d started, want it queued at %s", stage, i, want)
				}
				if q == nil || q.Status != metav1.ConditionTrue || q.Reason != v1alpha1.ReasonQueued || q.Message != want {
					t.Errorf("%s: delivery %d Queued = %+v, want True/%s %q", stage, i, q, v1alpha1.ReasonQueued, want)
				}
				if tr := d.Status.Triggered; len(tr) != 1 || tr[0].QueuePosition != int32(pos) || tr[0].QueueLength != int32(len(queue)) {
					t.Errorf("%s: delivery %d triggered = %+v, want position %d of %d", stage, i, tr, pos, len(queue))
				}
			}
		}
	}
	check("five accepted", []int{0, 1}, []int{2, 3, 4})

	finishRun(t, c, ns, run(0).Name)
	restarted := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	if err := restarted.Admit(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	check("first finished", []int{1, 2}, []int{3, 4})
	if q := meta.FindStatusCondition(getDelivery(t, c, ds[2]).Status.Conditions, v1alpha1.ConditionQueued); q == nil || q.Reason != v1alpha1.ReasonStarted {
		t.Errorf("delivery 2 Queued = %+v, want False/%s once started", q, v1alpha1.ReasonStarted)
	}

	// Cancelling a queued run takes it out of the queue; cancelling a running one frees its slot.
	reconcileDelivery(t, restarted, c, func() *v1alpha1.Delivery {
		d := comment("maria", "/cancel", 10).delivery(ns, 10)
		d.Spec.PullRequest.Number = 13
		return d
	}())
	check("queued run cancelled", []int{1, 2}, []int{4})
	reconcileDelivery(t, restarted, c, func() *v1alpha1.Delivery {
		d := comment("maria", "/cancel", 11).delivery(ns, 11)
		d.Spec.PullRequest.Number = 11
		return d
	}())
	check("running run cancelled", []int{2, 4}, nil)
	if n := len(listRuns(t, c, ns)); n != 5 {
		t.Errorf("%d runs, want all 5 kept", n)
	}
}

func finishRun(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	pr := getRun(t, c, ns, name)
	pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded"})
	if err := c.Status().Update(t.Context(), pr); err != nil {
		t.Fatal(err)
	}
}

func contains(list []int, i int) bool { return indexOf(list, i) >= 0 }

func indexOf(list []int, i int) int {
	for k, v := range list {
		if v == i {
			return k
		}
	}
	return -1
}
