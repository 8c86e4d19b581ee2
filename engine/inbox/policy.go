package inbox

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// Reasons of the WebhooksVerified condition besides v1alpha1.ReasonUnsignedAllowed.
const (
	ReasonSignatureRequired    = "SignatureRequired"
	ReasonNoWebhookSecret      = "NoWebhookSecret"
	ReasonWebhookSecretMissing = "WebhookSecretMissing"
)

// PolicyReconciler writes each Application's WebhooksVerified condition: whether its webhook
// deliveries are verified, and if not, why (no secret configured, a Secret or key missing, or
// unsigned deliveries explicitly allowed). It reads Secrets to check that keys exist, and never
// copies a value anywhere.
type PolicyReconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconciler; a change to a Secret re-checks the Applications
// of its namespace that name it.
func (r *PolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("webhook-policy").
		For(&v1alpha1.Application{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.appsNaming)).
		Complete(r)
}

func (r *PolicyReconciler) appsNaming(ctx context.Context, o client.Object) []reconcile.Request {
	var apps v1alpha1.ApplicationList
	if err := r.Client.List(ctx, &apps, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, a := range apps.Items {
		if slices.ContainsFunc(a.Spec.Source.WebhookSecrets, func(s v1alpha1.SecretKeyRef) bool { return s.Name == o.GetName() }) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&a)})
		}
	}
	return reqs
}

// Reconcile sets one Application's WebhooksVerified condition.
func (r *PolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var app v1alpha1.Application
	if err := r.Client.Get(ctx, req.NamespacedName, &app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cond, err := r.condition(ctx, &app)
	if err != nil {
		return ctrl.Result{}, err
	}
	cond.ObservedGeneration = app.Generation
	if !meta.SetStatusCondition(&app.Status.Conditions, cond) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Update(ctx, &app); err != nil {
		return ctrl.Result{}, fmt.Errorf("update webhook condition of application %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

func (r *PolicyReconciler) condition(ctx context.Context, app *v1alpha1.Application) (metav1.Condition, error) {
	src := app.Spec.Source
	c := metav1.Condition{Type: v1alpha1.ConditionWebhooksVerified, Status: metav1.ConditionFalse}
	if src.AllowUnsignedWebhooks {
		c.Reason = v1alpha1.ReasonUnsignedAllowed
		c.Message = "spec.source.allowUnsignedWebhooks is true: deliveries without a signature are accepted, so anyone who can reach the webhook endpoint can start builds of " + src.RepoURL + "; remove it once the provider signs its deliveries"
		return c, nil
	}
	if len(src.WebhookSecrets) == 0 {
		c.Reason = ReasonNoWebhookSecret
		c.Message = "spec.source.webhookSecrets is empty: every delivery is rejected with 401; create a Secret holding the provider's webhook secret and name it there"
		return c, nil
	}
	var missing []string
	for _, ref := range src.WebhookSecrets {
		key := ref.Key
		if key == "" {
			key = "secret"
		}
		var s corev1.Secret
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: ref.Name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("Secret %s does not exist", ref.Name))
		case err != nil:
			return c, fmt.Errorf("read webhook secret %s of application %s: %w", ref.Name, app.Name, err)
		case len(s.Data[key]) == 0:
			missing = append(missing, fmt.Sprintf("Secret %s has no key %q", ref.Name, key))
		}
	}
	if len(missing) == len(src.WebhookSecrets) {
		c.Reason = ReasonWebhookSecretMissing
		c.Message = strings.Join(missing, "; ") + ": every delivery is rejected with 401 until one exists"
		return c, nil
	}
	c.Status, c.Reason = metav1.ConditionTrue, ReasonSignatureRequired
	c.Message = fmt.Sprintf("deliveries must be signed with one of %d webhook secrets", len(src.WebhookSecrets)-len(missing))
	if len(missing) > 0 {
		c.Message += "; " + strings.Join(missing, "; ")
	}
	return c, nil
}
