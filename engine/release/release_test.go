package release_test

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/release"
	"slipway.dev/slipway/internal/kubetest"
)

const (
	sha    = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	image  = "127.0.0.1:5000/apps/acme/hello@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
	reldel = "github-72d3162e-cc78-11e3-81ab-4c9367dc0958"
)

// TestReconcileSucceeded proves that a successful deploy run becomes one Release holding the
// image by digest and the commit, owned by its Application, however often it is reconciled.
func TestReconcileSucceeded(t *testing.T) {
	c, ns := testNamespace(t)
	r := &release.Reconciler{Client: c, Log: testLogger(t)}
	app := createApp(t, c, ns, "hello")
	pr := createRun(t, c, ns, "hello-deploy-be63801201", "hello")
	finishRun(t, c, pr, corev1.ConditionTrue, map[string]string{"IMAGE_URL": image + "\n", "COMMIT": sha + "\n"})

	reconcile(t, r, pr)
	rels := listReleases(t, c, ns)
	if len(rels) != 1 {
		t.Fatalf("%d releases, want 1", len(rels))
	}
	rel := rels[0]
	if want := release.Name("hello", sha); rel.Name != want || want != "hello-0d1a26e67d8f" {
		t.Errorf("release name = %q, want %q", rel.Name, want)
	}
	wantSpec := v1alpha1.ReleaseSpec{Application: "hello", SourceSHA: sha, Ref: "refs/heads/main", Image: image,
		Delivery: reldel, PipelineRun: pr.Name}
	if fmt.Sprintf("%+v", rel.Spec) != fmt.Sprintf("%+v", wantSpec) {
		t.Errorf("spec = %+v, want %+v", rel.Spec, wantSpec)
	}
	for k, v := range map[string]string{v1alpha1.LabelApplication: "hello", v1alpha1.LabelSHA: sha, v1alpha1.LabelDelivery: reldel} {
		if rel.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, rel.Labels[k], v)
		}
	}
	if len(rel.OwnerReferences) != 1 || rel.OwnerReferences[0].UID != app.UID {
		t.Errorf("owner references = %+v, want the Application %s", rel.OwnerReferences, app.UID)
	}

	t.Run("reconciled again", func(t *testing.T) {
		reconcile(t, r, pr)
		if n := len(listReleases(t, c, ns)); n != 1 {
			t.Errorf("%d releases, want 1", n)
		}
	})

	t.Run("another run of the same commit", func(t *testing.T) {
		again := createRun(t, c, ns, "hello-deploy-0123456789", "hello")
		finishRun(t, c, again, corev1.ConditionTrue, map[string]string{"IMAGE_URL": image, "COMMIT": sha})
		reconcile(t, r, again)
		rels := listReleases(t, c, ns)
		if len(rels) != 1 || rels[0].Spec.PipelineRun != pr.Name {
			t.Errorf("releases = %d, want the first one alone", len(rels))
		}
	})
}

// TestReconcileOutcomes covers runs that must not, or cannot, become a Release.
func TestReconcileOutcomes(t *testing.T) {
	c, ns := testNamespace(t)
	r := &release.Reconciler{Client: c, Log: testLogger(t)}
	tests := []struct {
		name        string
		status      corev1.ConditionStatus // "" leaves the run without a Succeeded condition
		results     map[string]string
		wantRelease string                 // name of the Release, "" for none
		wantReady   metav1.ConditionStatus // the Application's Ready condition, "" for none
		wantMessage []string
		reason      string // Tekton's reason for a failed run, default Failed
		wantReason  string // the Ready condition's reason, default Failed
	}{
		{name: "not started"},
		{name: "running", status: corev1.ConditionUnknown},
		{
			name: "commit taken from the label", status: corev1.ConditionTrue,
			results:     map[string]string{"IMAGE_URL": image},
			wantRelease: release.Name("app-2", sha),
		},
		{
			name: "failed", status: corev1.ConditionFalse,
			wantReady:   metav1.ConditionFalse,
			wantMessage: []string{"pipeline run app-3-deploy failed: build broke", "slipway logs app-3-deploy"},
		},
		{
			name: "cancelled (superseded) is no failure", status: corev1.ConditionFalse, reason: "Cancelled",
		},
		{
			name: "timed out", status: corev1.ConditionFalse, reason: "PipelineRunTimeout",
			wantReady: metav1.ConditionFalse, wantReason: v1alpha1.ReasonTimedOut,
			wantMessage: []string{"timed out: build broke", "raise the timeout"},
		},
		{
			name: "image by tag", status: corev1.ConditionTrue,
			results:     map[string]string{"IMAGE_URL": "127.0.0.1:5000/apps/acme/hello:latest", "COMMIT": sha},
			wantReady:   metav1.ConditionFalse,
			wantMessage: []string{"app-6-deploy", `IMAGE_URL result "127.0.0.1:5000/apps/acme/hello:latest" is not an image pinned by digest`},
		},
		{
			name: "no image", status: corev1.ConditionTrue,
			results:     map[string]string{"COMMIT": sha},
			wantReady:   metav1.ConditionFalse,
			wantMessage: []string{"app-7-deploy", `IMAGE_URL result "" is not an image pinned by digest`},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			appName := fmt.Sprintf("app-%d", i)
			createApp(t, c, ns, appName)
			pr := createRun(t, c, ns, appName+"-deploy", appName)
			if tt.status != "" {
				finishRun(t, c, pr, tt.status, tt.results)
			}
			if tt.reason != "" {
				cond := pr.Status.GetCondition(apis.ConditionSucceeded)
				cond.Reason = tt.reason
				pr.Status.SetCondition(cond)
				if err := c.Status().Update(t.Context(), pr); err != nil {
					t.Fatal(err)
				}
			}
			reconcile(t, r, pr)

			var rels v1alpha1.ReleaseList
			if err := c.List(t.Context(), &rels, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelApplication: appName}); err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantRelease == "" && len(rels.Items) != 0:
				t.Errorf("release %s created, want none", rels.Items[0].Name)
			case tt.wantRelease != "" && (len(rels.Items) != 1 || rels.Items[0].Name != tt.wantRelease):
				t.Errorf("releases = %+v, want %s", rels.Items, tt.wantRelease)
			}

			var app v1alpha1.Application
			if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: appName}, &app); err != nil {
				t.Fatal(err)
			}
			ready := meta.FindStatusCondition(app.Status.Conditions, v1alpha1.ConditionReady)
			if tt.wantReady == "" {
				if ready != nil {
					t.Errorf("application Ready = %+v, want none", ready)
				}
				return
			}
			wantReason := cmp.Or(tt.wantReason, v1alpha1.ReasonFailed)
			if ready == nil || ready.Status != tt.wantReady || ready.Reason != wantReason {
				t.Fatalf("application Ready = %+v, want %s/%s", ready, tt.wantReady, wantReason)
			}
			for _, w := range tt.wantMessage {
				if !strings.Contains(ready.Message, w) {
					t.Errorf("application Ready message %q does not contain %q", ready.Message, w)
				}
			}
			// A second reconcile finds the condition already set and writes nothing.
			rv := app.ResourceVersion
			reconcile(t, r, pr)
			if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: appName}, &app); err != nil {
				t.Fatal(err)
			}
			if app.ResourceVersion != rv {
				t.Errorf("second reconcile rewrote the application (resourceVersion %s -> %s)", rv, app.ResourceVersion)
			}
		})
	}
}

func TestReconcileGone(t *testing.T) {
	c, ns := testNamespace(t)
	r := &release.Reconciler{Client: c, Log: testLogger(t)}
	t.Run("run deleted", func(t *testing.T) {
		if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "gone"}}); err != nil {
			t.Error(err)
		}
	})
	t.Run("application deleted", func(t *testing.T) {
		pr := createRun(t, c, ns, "orphan-deploy", "orphan")
		finishRun(t, c, pr, corev1.ConditionTrue, map[string]string{"IMAGE_URL": image, "COMMIT": sha})
		reconcile(t, r, pr)
		if n := len(listReleases(t, c, ns)); n != 0 {
			t.Errorf("%d releases, want none", n)
		}
	})
}

func createApp(t *testing.T, c client.Client, ns, name string) *v1alpha1.Application {
	t.Helper()
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git"},
			Environments: []v1alpha1.Environment{{Name: "staging"}},
		},
	}
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	return app
}

// createRun creates a deploy PipelineRun labelled the way the trigger labels it.
func createRun(t *testing.T, c client.Client, ns, name, app string) *tektonv1.PipelineRun {
	t.Helper()
	pr := &tektonv1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			v1alpha1.LabelApplication: app, v1alpha1.LabelDelivery: reldel,
			v1alpha1.LabelSHA: sha, v1alpha1.LabelFlow: "deploy",
		}},
		Spec: tektonv1.PipelineRunSpec{PipelineRef: &tektonv1.PipelineRef{Name: "slipway-deploy"}},
	}
	if err := c.Create(t.Context(), pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// finishRun writes a run's outcome and results through the status subresource, as its executor
// does.
func finishRun(t *testing.T, c client.Client, pr *tektonv1.PipelineRun, status corev1.ConditionStatus, results map[string]string) {
	t.Helper()
	cond := &apis.Condition{Type: apis.ConditionSucceeded, Status: status, Reason: "Running"}
	switch status {
	case corev1.ConditionTrue:
		cond.Reason = tektonv1.PipelineRunReasonSuccessful.String()
	case corev1.ConditionFalse:
		cond.Reason, cond.Message = tektonv1.PipelineRunReasonFailed.String(), "build broke"
	}
	pr.Status.SetCondition(cond)
	for name, v := range results {
		pr.Status.Results = append(pr.Status.Results, tektonv1.PipelineRunResult{Name: name, Value: *tektonv1.NewStructuredValues(v)})
	}
	if err := c.Status().Update(t.Context(), pr); err != nil {
		t.Fatal(err)
	}
}

func reconcile(t *testing.T, r *release.Reconciler, pr *tektonv1.PipelineRun) {
	t.Helper()
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pr)}); err != nil {
		t.Fatalf("Reconcile %s: %v", pr.Name, err)
	}
}

func listReleases(t *testing.T, c client.Client, ns string) []v1alpha1.Release {
	t.Helper()
	var list v1alpha1.ReleaseList
	if err := c.List(t.Context(), &list, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return list.Items
}

func testLogger(t *testing.T) *slog.Logger { return kubetest.Logger(t) }

// apiServer is this package's one local API server, shared by its tests.
var apiServer = kubetest.New("release")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// testNamespace returns a client of the shared API server and a new namespace for the test.
func testNamespace(t *testing.T) (client.Client, string) { return apiServer.Namespace(t) }
