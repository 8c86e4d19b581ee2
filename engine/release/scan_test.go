package release_test

import (
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/release"
)

const (
	passSummary = `{"image":"x","verdict":"pass","threshold":"HIGH","counts":{"MEDIUM":2,"LOW":1},"total":3,"blockingCount":0}`
	failSummary = `{"image":"x","verdict":"fail","threshold":"HIGH","counts":{"CRITICAL":1,"HIGH":1},"total":2,"blocking":["CVE-2099-0001","CVE-2099-0002"],"blockingCount":2}`
)

// taskRun creates a TaskRun of pr's pipeline task with results, and lists it as pr's child.
func taskRun(t *testing.T, c client.Client, pr *tektonv1.PipelineRun, task string, results map[string]string) {
	t.Helper()
	tr := &tektonv1.TaskRun{ObjectMeta: metav1.ObjectMeta{Namespace: pr.Namespace, Name: pr.Name + "-" + task},
		Spec: tektonv1.TaskRunSpec{TaskRef: &tektonv1.TaskRef{Name: task}}}
	if err := c.Create(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	for k, v := range results {
		tr.Status.Results = append(tr.Status.Results, tektonv1.TaskRunResult{Name: k, Type: tektonv1.ResultsTypeString, Value: *tektonv1.NewStructuredValues(v + "\n")})
	}
	if err := c.Status().Update(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	pr.Status.ChildReferences = append(pr.Status.ChildReferences, tektonv1.ChildStatusReference{
		TypeMeta: runtime.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"}, Name: tr.Name, PipelineTaskName: task})
}

func TestSignedAndScannedRelease(t *testing.T) {
	c, ns := testNamespace(t)
	r := &release.Reconciler{Client: c, Log: testLogger(t)}
	createApp(t, c, ns, "signed")
	pr := createRun(t, c, ns, "signed-deploy", "signed")
	finishRun(t, c, pr, corev1.ConditionTrue, map[string]string{"IMAGE_URL": image, "COMMIT": sha,
		"SIGNATURE": "127.0.0.1:5000/apps/acme/hello@sha256:aaaa", "SCAN_SUMMARY": passSummary, "ATTESTATIONS": "sbom,scan"})
	reconcile(t, r, pr)
	var rel v1alpha1.Release
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: release.Name("signed", sha)}, &rel); err != nil {
		t.Fatal(err)
	}
	want := &v1alpha1.ScanSummary{Medium: 2, Low: 1, Passed: true}
	if rel.Spec.Signature == "" || rel.Spec.SBOM != "sbom,scan" || rel.Spec.Scan == nil || *rel.Spec.Scan != *want {
		t.Errorf("release spec = %+v / scan %+v, want the signature, attestations and %+v", rel.Spec, rel.Spec.Scan, want)
	}
}

func TestBlockedByScan(t *testing.T) {
	c, ns := testNamespace(t)
	r := &release.Reconciler{Client: c, Log: testLogger(t)}
	for _, tc := range []struct {
		name        string
		scan        map[string]string // the scan TaskRun's results; nil for no scan TaskRun
		wantRelease bool
		wantReason  string
	}{
		{name: "blocked", scan: map[string]string{"VERDICT": "fail", "SCAN_SUMMARY": failSummary}, wantRelease: true, wantReason: release.ReasonScanFailed},
		{name: "failed before the scan", wantReason: v1alpha1.ReasonFailed},
		{name: "scan passed, sign failed", scan: map[string]string{"VERDICT": "pass", "SCAN_SUMMARY": passSummary}, wantReason: v1alpha1.ReasonFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appName := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), ",", "")
			createApp(t, c, ns, appName)
			pr := createRun(t, c, ns, appName+"-deploy", appName)
			taskRun(t, c, pr, "fetch", map[string]string{"commit": sha})
			taskRun(t, c, pr, "image", map[string]string{"IMAGE_URL": image})
			if tc.scan != nil {
				taskRun(t, c, pr, "scan", tc.scan)
			}
			finishRun(t, c, pr, corev1.ConditionFalse, nil)
			reconcile(t, r, pr)

			var rel v1alpha1.Release
			err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: release.Name(appName, sha)}, &rel)
			if tc.wantRelease != (err == nil) {
				t.Fatalf("release found: %v (err %v), want %v", err == nil, err, tc.wantRelease)
			}
			if tc.wantRelease {
				ready := meta.FindStatusCondition(rel.Status.Conditions, v1alpha1.ConditionReady)
				if ready == nil || ready.Reason != release.ReasonScanFailed || !strings.Contains(ready.Message, "CVE-2099-0001, CVE-2099-0002") {
					t.Errorf("release Ready = %+v, want ScanFailed naming the CVEs", ready)
				}
				if rel.Spec.Scan == nil || rel.Spec.Scan.Passed || rel.Spec.Scan.Critical != 1 || rel.Spec.Scan.High != 1 {
					t.Errorf("release scan = %+v, want 1 critical, 1 high, not passed", rel.Spec.Scan)
				}
			}
			var app v1alpha1.Application
			if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: appName}, &app); err != nil {
				t.Fatal(err)
			}
			if ready := meta.FindStatusCondition(app.Status.Conditions, v1alpha1.ConditionReady); ready == nil || ready.Reason != tc.wantReason {
				t.Errorf("application Ready = %+v, want reason %s", ready, tc.wantReason)
			}
		})
	}
}
