package trigger

import (
	"context"
	"fmt"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/webhooks/event"
)

// unmoved reports whether a Delivery reports a ref that did not move: before and after are the
// same commit. Providers' "Test" buttons send such deliveries (Gitea's re-sends the branch's
// head as a push whose before is its after); so does a manual re-send of one.
func unmoved(d *v1alpha1.Delivery) bool {
	return !event.IsZeroSHA(d.Spec.After) && d.Spec.Before == d.Spec.After
}

// skipUnmoved keeps a delivery of a ref that did not move from building its commit a second
// time: when the Application already has a run of the ref at that commit that is in flight or
// succeeded, or a Release of the commit, it records why nothing runs and reports true, before
// anything is superseded: the run that builds the commit goes on. A commit not built yet
// (Slipway was set up after the push, or the run failed or was cancelled) is built as for a push.
func (r *Reconciler) skipUnmoved(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, out *outcome) (bool, error) {
	if !unmoved(d) {
		return false, nil
	}
	why, err := r.builtAt(ctx, d, app)
	if err != nil || why == "" {
		return false, err
	}
	out.add(app.Name, FlowDeploy, "", v1alpha1.ReasonAlreadyBuilt, fmt.Sprintf(
		"%s did not move (before and after are both %s, as a provider's test delivery sends) and %s; nothing ran",
		d.Spec.Ref, short(d.Spec.After), why))
	return true, nil
}

// builtAt says what already built, or is building, d's commit of d's ref for app, or "".
func (r *Reconciler) builtAt(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application) (string, error) {
	var runs tektonv1.PipelineRunList
	if err := r.reader().List(ctx, &runs, client.InNamespace(app.Namespace), client.MatchingLabels{
		v1alpha1.LabelApplication: app.Name, v1alpha1.LabelFlow: FlowDeploy,
		v1alpha1.LabelRefHash: refHash(d.Spec.Ref), v1alpha1.LabelSHA: d.Spec.After,
	}); err != nil {
		return "", fmt.Errorf("list runs of %s %s: %w", app.Name, d.Spec.Ref, err)
	}
	for i := range runs.Items {
		pr := &runs.Items[i]
		switch {
		case pr.Labels[v1alpha1.LabelDelivery] == d.Name || isCancelled(pr):
			continue
		case !pr.IsDone():
			return "pipeline run " + pr.Name + " is building it", nil
		case pr.Status.GetCondition(apis.ConditionSucceeded).IsTrue():
			return "pipeline run " + pr.Name + " built it", nil
		}
	}
	var rels v1alpha1.ReleaseList
	if err := r.reader().List(ctx, &rels, client.InNamespace(app.Namespace), client.MatchingLabels{
		v1alpha1.LabelApplication: app.Name, v1alpha1.LabelSHA: d.Spec.After,
	}); err != nil {
		return "", fmt.Errorf("list releases of %s: %w", app.Name, err)
	}
	if len(rels.Items) > 0 {
		return "release " + rels.Items[0].Name + " holds it", nil
	}
	return "", nil
}
