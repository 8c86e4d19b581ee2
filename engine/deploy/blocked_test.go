package deploy_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/deploy"
)

// A Release whose image the vulnerability scan stopped is never committed to an environment.
func TestBlockedReleaseIsNotDeployed(t *testing.T) {
	c, ns := testNamespace(t)
	committer := &recordingCommitter{}
	r := &deploy.Reconciler{Client: c, Renderer: echoRenderer{}, Committer: committer, Log: testLogger(t)}
	createApp(t, c, ns, "hello", []v1alpha1.Environment{{Name: "staging"}})
	rel := &v1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello-" + sha[:12]},
		Spec: v1alpha1.ReleaseSpec{Application: "hello", SourceSHA: sha, Image: image,
			Scan: &v1alpha1.ScanSummary{Critical: 1, Passed: false}},
	}
	if err := c.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rel)}); err != nil {
		t.Fatal(err)
	}
	committer.mu.Lock()
	n := len(committer.commits)
	committer.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d commits for a release the scan blocked, want none", n)
	}
	if got := getRelease(t, c, rel); len(got.Status.Environments) != 0 {
		t.Errorf("release environments = %+v, want none", got.Status.Environments)
	}
}
