package retention_test

import (
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/retention"
	"slipway.dev/slipway/internal/kubetest"
)

var apiServer = kubetest.New("retention")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

func delivery(ns, name string, received time.Time) *v1alpha1.Delivery {
	return &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DeliverySpec{Provider: "github", DeliveryID: name, Event: "push",
			Ref: "refs/heads/main", ReceivedAt: metav1.NewTime(received)},
	}
}

func setCondition(t *testing.T, c client.Client, d *v1alpha1.Delivery, typ string) {
	t.Helper()
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "Test", Message: "set by the test"})
	if err := c.Status().Update(t.Context(), d); err != nil {
		t.Fatal(err)
	}
}

func TestReconcile(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	// The API server sets creationTimestamp to its own now; the reconciler's clock runs ahead.
	now := time.Now()
	for _, tc := range []struct {
		name        string
		received    time.Time
		clock       time.Time
		condition   string // Ready, Stalled or none
		wantDeleted bool
		wantRequeue bool
	}{
		{name: "ready and past retention", received: now, clock: now.Add(8 * 24 * time.Hour), condition: v1alpha1.ConditionReady, wantDeleted: true},
		{name: "stalled and past retention", received: now, clock: now.Add(8 * 24 * time.Hour), condition: v1alpha1.ConditionStalled, wantDeleted: true},
		{name: "ready but young", received: now, clock: now.Add(2 * 24 * time.Hour), condition: v1alpha1.ConditionReady, wantRequeue: true},
		{name: "past retention but still being processed", received: now, clock: now.Add(30 * 24 * time.Hour)},
		{name: "received in the past by a skewed clock counts from creation", received: now.Add(-30 * 24 * time.Hour), clock: now.Add(24 * time.Hour), condition: v1alpha1.ConditionReady, wantRequeue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), ",", "")
			d := delivery(ns, name, tc.received)
			if err := c.Create(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			if tc.condition != "" {
				setCondition(t, c, d, tc.condition)
			}
			r := &retention.Reconciler{Client: c, Retention: 7 * 24 * time.Hour, Now: func() time.Time { return tc.clock }}
			res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.RequeueAfter > 0; got != tc.wantRequeue {
				t.Errorf("requeue after %s, want a requeue: %v", res.RequeueAfter, tc.wantRequeue)
			}
			if tc.wantRequeue && res.RequeueAfter > 7*24*time.Hour {
				t.Errorf("requeue after %s, longer than the retention", res.RequeueAfter)
			}
			err = c.Get(t.Context(), client.ObjectKeyFromObject(d), &v1alpha1.Delivery{})
			if deleted := apierrors.IsNotFound(err); deleted != tc.wantDeleted {
				t.Errorf("deleted = %v (get: %v), want %v", deleted, err, tc.wantDeleted)
			}
		})
	}
}

func TestRetentionTooShort(t *testing.T) {
	r := &retention.Reconciler{Retention: time.Hour}
	_, err := r.Reconcile(t.Context(), ctrl.Request{})
	if err == nil || !strings.Contains(err.Error(), "must be at least 72h0m0s") {
		t.Fatalf("err = %v, want the minimum named", err)
	}
}
