package release_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/release"
)

// TestReconcileTagRun proves that the Release of a run the trigger started for a tag push names
// the tag as its ref and the commit the tag object was peeled to (the run's COMMIT) as its
// source, not the tag object the run was labelled with.
func TestReconcileTagRun(t *testing.T) {
	const tagObject = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	c, ns := testNamespace(t)
	r := &release.Reconciler{Client: c, Log: testLogger(t)}
	createApp(t, c, ns, "hello")
	pr := createRun(t, c, ns, "hello-deploy-7a1e0c2b9d", "hello")
	pr.Labels[v1alpha1.LabelSHA] = tagObject
	pr.Annotations = map[string]string{v1alpha1.AnnotationRef: "refs/tags/v1.2.0"}
	if err := c.Update(t.Context(), pr); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(pr), pr); err != nil {
		t.Fatal(err)
	}
	finishRun(t, c, pr, corev1.ConditionTrue, map[string]string{"IMAGE_URL": image, "COMMIT": sha})
	reconcile(t, r, pr)
	rels := listReleases(t, c, ns)
	if len(rels) != 1 || rels[0].Spec.Ref != "refs/tags/v1.2.0" || rels[0].Spec.SourceSHA != sha {
		t.Fatalf("releases = %+v, want one of commit %s from refs/tags/v1.2.0", rels, sha)
	}
}
