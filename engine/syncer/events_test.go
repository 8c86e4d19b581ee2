package syncer

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDrifted decides from an object's generation and managed fields whether a change was
// drift that the syncer must repair.
func TestDrifted(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entry := func(manager, subresource string, at time.Time) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate,
			Subresource: subresource, Time: &metav1.Time{Time: at}}
	}
	deployment := func(generation int64, fields ...metav1.ManagedFieldsEntry) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "hello-dev"}}}
		u.SetGeneration(generation)
		u.SetManagedFields(fields)
		return u
	}
	applied := entry("slipway", "", t0)
	reapplied := entry("slipway", "", t0.Add(time.Minute))
	scaled := entry("kubectl", "scale", t0)
	scaled.Time = nil // the API server stamps no time on writes through /scale
	for _, tc := range []struct {
		name string
		old  *unstructured.Unstructured
		new  *unstructured.Unstructured
		want bool
	}{
		{"status only", deployment(1, applied), deployment(1, applied, entry("kube-controller-manager", "status", t0.Add(time.Minute))), false},
		{"the syncer's own apply", deployment(1, applied), deployment(2, reapplied), false},
		{"the syncer's apply while a controller's entry stays", deployment(1, applied, entry("kube-controller-manager", "", t0)),
			deployment(2, reapplied, entry("kube-controller-manager", "", t0)), false},
		{"kubectl edit", deployment(1, applied), deployment(2, applied, entry("kubectl-edit", "", t0.Add(time.Minute))), true},
		{"kubectl scale, through the scale subresource and without a time", deployment(1, applied), deployment(2, applied, scaled), true},
		{"kubectl scale again", deployment(2, applied, scaled), deployment(3, applied, func() metav1.ManagedFieldsEntry {
			e := scaled
			e.FieldsV1 = &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}
			return e
		}()), true},
		{"the syncer's apply and a client's update in one event", deployment(1, applied),
			deployment(2, reapplied, entry("kubectl", "", t0.Add(time.Minute))), true},
		{"no entry moved (two writes within a second): assume drift", deployment(1, applied), deployment(2, applied), true},
		{"generation unchanged", deployment(2, applied), deployment(2, applied, entry("someone", "", t0.Add(time.Minute))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := drifted(tc.new, tc.old, "slipway"); got != tc.want {
				t.Errorf("drifted = %v, want %v", got, tc.want)
			}
		})
	}
}
