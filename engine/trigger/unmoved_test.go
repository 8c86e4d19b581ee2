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
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/trigger"
)

// TestReconcileUnmoved covers deliveries whose before and after are the same commit, as a
// provider's "Test" button sends for the branch's head: they are recorded, and start no second
// build of a commit already built or being built from the branch, saying so on the Delivery;
// a commit that is not built yet (no run, or only a failed one) is built as for a push.
func TestReconcileUnmoved(t *testing.T) {
	tests := []struct {
		name string
		// before sets up what the Application already has: the original push's run, finished
		// with status ("" for in flight), or a Release of the commit.
		runStatus corev1.ConditionStatus
		noRun     bool
		release   bool
		wantBuilt string // "" wants a new run
	}{
		{name: "run in flight", runStatus: "", wantBuilt: "is building it"},
		{name: "run succeeded", runStatus: corev1.ConditionTrue, wantBuilt: "built it"},
		{name: "release only", noRun: true, release: true, wantBuilt: "release hello-0d1a26e67d8f holds it"},
		{name: "run failed", runStatus: corev1.ConditionFalse},
		{name: "nothing built", noRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
			app := sampleApplication(ns, "hello")
			if err := c.Create(t.Context(), app); err != nil {
				t.Fatal(err)
			}
			reconcile := func(d *v1alpha1.Delivery) *v1alpha1.Delivery {
				t.Helper()
				if err := c.Create(t.Context(), d); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
					t.Fatal(err)
				}
				return getDelivery(t, c, d)
			}
			var original *tektonv1.PipelineRun
			if !tt.noRun {
				reconcile(sampleDelivery(ns, "github-original"))
				original = &listRuns(t, c, ns)[0]
				if tt.runStatus != "" {
					original.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: tt.runStatus, Reason: "Done"})
					original.Status.CompletionTime = &metav1.Time{Time: time.Now()}
					if err := c.Status().Update(t.Context(), original); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.release {
				rel := &v1alpha1.Release{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello-" + afterSHA[:12],
						Labels: map[string]string{v1alpha1.LabelApplication: "hello", v1alpha1.LabelSHA: afterSHA}},
					Spec: v1alpha1.ReleaseSpec{Application: "hello", SourceSHA: afterSHA, Ref: "refs/heads/main",
						Image: "127.0.0.1:5000/apps/hello@sha256:" + strings.Repeat("a", 64)},
				}
				if err := c.Create(t.Context(), rel); err != nil {
					t.Fatal(err)
				}
			}
			runsBefore := len(listRuns(t, c, ns))

			test := sampleDelivery(ns, "github-test-delivery")
			test.Spec.Before = afterSHA // the branch's head, on both sides
			test.Spec.ReceivedAt = metav1.NewTime(test.Spec.ReceivedAt.Add(time.Minute))
			got := reconcile(test)
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			runs := listRuns(t, c, ns)
			if tt.wantBuilt == "" {
				if len(runs) != runsBefore+1 || ready == nil || ready.Reason != v1alpha1.ReasonSucceeded {
					t.Fatalf("%d runs (had %d), Ready %+v; want a new run and Succeeded", len(runs), runsBefore, ready)
				}
				return
			}
			if len(runs) != runsBefore {
				t.Errorf("%d runs, had %d: the test delivery started a duplicate build", len(runs), runsBefore)
			}
			if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != v1alpha1.ReasonAlreadyBuilt ||
				!strings.Contains(ready.Message, "refs/heads/main did not move") || !strings.Contains(ready.Message, tt.wantBuilt) {
				t.Errorf("Ready = %+v, want True/%s saying the ref did not move and %q", ready, v1alpha1.ReasonAlreadyBuilt, tt.wantBuilt)
			}
			if fmt.Sprint(got.Status.Triggered) != fmt.Sprint([]v1alpha1.TriggeredRun{{Application: "hello", Flow: trigger.FlowDeploy}}) {
				t.Errorf("triggered = %+v, want hello's deploy without a run", got.Status.Triggered)
			}
			if original != nil {
				var now tektonv1.PipelineRun
				if err := c.Get(t.Context(), client.ObjectKeyFromObject(original), &now); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(string(now.Spec.Status), "Cancelled") || now.Annotations[v1alpha1.AnnotationCancelReason] != "" {
					t.Errorf("the original run was cancelled by the test delivery: %q", now.Annotations[v1alpha1.AnnotationCancelReason])
				}
			}
		})
	}
}
