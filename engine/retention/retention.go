// Package retention deletes webhook Deliveries once they are old and their work exists, keeping
// each long enough that a provider's redelivery of it is still recognised as a duplicate.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// MinRetention is the shortest time a Delivery is kept. A Delivery's name is its duplicate
// check, and GitHub lets users redeliver a webhook for three days; Gitea, GitLab and Bitbucket
// retry within hours.
const MinRetention = 72 * time.Hour

// DefaultRetention is how long Deliveries are kept unless configured otherwise.
const DefaultRetention = 7 * 24 * time.Hour

// Reconciler deletes Deliveries older than Retention whose triggered work exists (Ready) or that
// can never make progress (Stalled). A Delivery still being processed is kept whatever its age.
type Reconciler struct {
	Client client.Client
	// Retention is how long a Delivery is kept after it was received (default
	// DefaultRetention); it must be at least MinRetention.
	Retention time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// Log receives one line per deletion; nil discards.
	Log *slog.Logger
}

// SetupWithManager checks the configuration and registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := r.defaults(); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("retention").For(&v1alpha1.Delivery{}).Complete(r)
}

func (r *Reconciler) defaults() error {
	if r.Retention == 0 {
		r.Retention = DefaultRetention
	}
	if r.Retention < MinRetention {
		return fmt.Errorf("delivery retention %s: must be at least %s, so that redeliveries are still recognised as duplicates", r.Retention, MinRetention)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Reconcile deletes one Delivery if it is due, or asks to be called again when it will be.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.defaults(); err != nil {
		return ctrl.Result{}, err
	}
	var d v1alpha1.Delivery
	if err := r.Client.Get(ctx, req.NamespacedName, &d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !d.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	received := d.Spec.ReceivedAt.Time
	if received.IsZero() || d.CreationTimestamp.After(received) {
		// The later of the two, so a clock skewed backwards at the receiver shortens nothing.
		received = d.CreationTimestamp.Time
	}
	due := received.Add(r.Retention)
	if wait := due.Sub(r.Now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if !finished(&d) {
		// Not done yet: the trigger's own status update brings it back here.
		return ctrl.Result{}, nil
	}
	// Delete exactly the object read, so a Delivery recreated under the same name meanwhile
	// is not removed.
	err := r.Client.Delete(ctx, &d, client.Preconditions{UID: &d.UID, ResourceVersion: &d.ResourceVersion})
	switch {
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		return ctrl.Result{Requeue: true}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("delete delivery %s: %w", req.NamespacedName, err)
	}
	r.Log.Info("deleted delivery past retention", "delivery", d.Spec.DeliveryID, "provider", d.Spec.Provider,
		"name", d.Name, "namespace", d.Namespace, "received", d.Spec.ReceivedAt.Format(time.RFC3339))
	return ctrl.Result{}, nil
}

// finished reports whether a Delivery's work exists or can never exist.
func finished(d *v1alpha1.Delivery) bool {
	return meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady) ||
		meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionStalled)
}
