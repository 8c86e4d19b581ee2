package release_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/release"
)

// TestReleaseNamedByRunLabel proves the Release takes the name the trigger put on its run
// before the run started (v1alpha1.LabelRelease), so that the name is known from the run alone
// whatever commit the run resolved its revision to; a run without the label, or with one that
// is no object name, gets the commit's name.
func TestReleaseNamedByRunLabel(t *testing.T) {
	tests := []struct {
		name, label, want string
	}{
		{name: "label", label: "hello-tagobject123", want: "hello-tagobject123"},
		{name: "no label", want: release.Name("hello", sha)},
		{name: "not an object name", label: "Hello_World", want: release.Name("hello", sha)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			r := &release.Reconciler{Client: c, Log: testLogger(t)}
			createApp(t, c, ns, "hello")
			pr := createRun(t, c, ns, "hello-deploy-"+strings.ReplaceAll(tt.name, " ", "-"), "hello")
			if tt.label != "" {
				pr.Labels[v1alpha1.LabelRelease] = tt.label
				if err := c.Update(t.Context(), pr); err != nil {
					t.Fatal(err)
				}
			}
			finishRun(t, c, pr, corev1.ConditionTrue, map[string]string{"IMAGE_URL": image, "COMMIT": sha})
			reconcile(t, r, pr)
			rels := listReleases(t, c, ns)
			if len(rels) != 1 || rels[0].Name != tt.want || rels[0].Spec.SourceSHA != sha {
				t.Fatalf("releases = %+v, want one named %s of commit %s", rels, tt.want, sha)
			}
		})
	}
}
