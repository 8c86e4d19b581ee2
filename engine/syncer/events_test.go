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
	// deployment is what the cluster cache keeps of a Deployment the target applied.
	deployment := func(generation int64, fields ...metav1.ManagedFieldsEntry) *resourceInfo {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "hello-dev", "annotations": map[string]any{AnnotationTarget: "hello-dev"}}}}
		u.SetGeneration(generation)
		u.SetManagedFields(fields)
		info, keep := populate(u, true)
		if !keep || len(u.GetManagedFields()) != 0 {
			t.Fatalf("populate kept the manifest: %v, managed fields %v; want it kept without them", keep, u.GetManagedFields())
		}
		return info.(*resourceInfo)
	}
	applied := entry("slipway", "", t0)
	reapplied := entry("slipway", "", t0.Add(time.Minute))
	scaled := entry("kubectl", "scale", t0)
	scaled.Time = nil // the API server stamps no time on writes through /scale
	for _, tc := range []struct {
		name string
		old  *resourceInfo
		new  *resourceInfo
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

// TestDriftedWithoutGeneration compares the desired state of kinds without a generation, and
// populate keeps no more of them than their metadata.
func TestDriftedWithoutGeneration(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	configMap := func(value string, status any, fields ...metav1.ManagedFieldsEntry) (*resourceInfo, *unstructured.Unstructured) {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings", "namespace": "hello-dev", "resourceVersion": value,
				"annotations": map[string]any{AnnotationTarget: "hello-dev"}},
			"data": map[string]any{"greeting": value}}}
		if status != nil {
			u.Object["status"] = status
		}
		u.SetManagedFields(fields)
		info, _ := populate(u, true)
		return info.(*resourceInfo), u
	}
	applied := metav1.ManagedFieldsEntry{Manager: "slipway", Operation: metav1.ManagedFieldsOperationApply, Time: &metav1.Time{Time: t0}}
	edited := metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: t0.Add(time.Minute)}}
	old, stored := configMap("hello", nil, applied)
	if _, ok := stored.Object["data"]; ok || stored.GetName() != "settings" || stored.GetAnnotations()[AnnotationTarget] != "hello-dev" {
		t.Errorf("populate kept %v; want the metadata alone of a kind without a health assessment", stored.Object)
	}
	same, _ := configMap("hello", nil, applied)
	byHand, _ := configMap("bonjour", nil, applied, edited)
	if drifted(same, old, "slipway") {
		t.Error("an unchanged ConfigMap drifted")
	}
	if !drifted(byHand, old, "slipway") {
		t.Error("data changed with kubectl edit did not drift")
	}
}
