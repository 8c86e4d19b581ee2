package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// refUpdate is one move of a ref (a branch, or a pull request's head): what a Delivery reports
// and what a run records in its annotations.
type refUpdate struct {
	before, after string
	receivedAt    time.Time
}

func deliveryUpdate(d *v1alpha1.Delivery) refUpdate {
	after := d.Spec.After
	if d.Spec.PullRequest != nil && d.Spec.PullRequest.HeadSHA != "" {
		after = d.Spec.PullRequest.HeadSHA
	}
	return refUpdate{before: d.Spec.Before, after: after, receivedAt: d.Spec.ReceivedAt.Time}
}

func runUpdate(pr *tektonv1.PipelineRun) refUpdate {
	t, _ := time.Parse(time.RFC3339Nano, pr.Annotations[v1alpha1.AnnotationReceivedAt])
	return refUpdate{before: pr.Annotations[v1alpha1.AnnotationBefore], after: pr.Labels[v1alpha1.LabelSHA], receivedAt: t}
}

// supersedes reports whether update a, being processed now, is newer than b, which was
// processed before. Deliveries can arrive out of order, so the rule is, first match wins:
//
//  1. the ref's chain: if b moved the ref from a's commit (b.before == a.after), b is newer; if a
//     moved it from b's commit (a.before == b.after), a is newer;
//  2. otherwise the receive times: the later one is newer;
//  3. on a tie (receive times have one-second resolution), a is newer, being the later processed.
func supersedes(a, b refUpdate) bool {
	switch {
	case a.after != "" && b.before == a.after:
		return false
	case b.after != "" && a.before == b.after:
		return true
	}
	return !a.receivedAt.Before(b.receivedAt)
}

// refHash is the label value that groups the runs of one ref of one Application.
func refHash(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(sum[:])[:16]
}

// inFlight reports whether a run may still execute.
func inFlight(pr *tektonv1.PipelineRun) bool {
	return !pr.IsDone() && !isCancelled(pr)
}

func isCancelled(pr *tektonv1.PipelineRun) bool {
	return pr.IsCancelled() || pr.IsGracefullyCancelled() || pr.IsGracefullyStopped()
}

// cancelRun asks the executor to cancel a run and says why on the run and on the Delivery that
// started it. The run's finally tasks still run (Tekton's spec.status CancelledRunFinally), so
// its report task tells the Git provider the commit's run ended instead of leaving its status
// pending; a run still queued is cancelled outright.
func (r *Reconciler) cancelRun(ctx context.Context, pr *tektonv1.PipelineRun, by, reason string) error {
	err := r.Runs.Cancel(ctx, pr.Namespace, pr.Name, true, map[string]string{
		v1alpha1.AnnotationCancelReason: reason, v1alpha1.AnnotationCancelledBy: by,
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	r.logger().Info("pipeline run cancelled", "pipelineRun", pr.Name, "by", by, "reason", reason)
	owner := pr.Labels[v1alpha1.LabelDelivery]
	if owner == "" || owner == by {
		return nil
	}
	return r.updateDeliveryStatus(ctx, client.ObjectKey{Namespace: pr.Namespace, Name: owner}, func(st *v1alpha1.DeliveryStatus, gen int64) {
		for i := range st.Triggered {
			if st.Triggered[i].PipelineRun == pr.Name {
				st.Triggered[i].QueuePosition, st.Triggered[i].QueueLength = 0, 0
			}
		}
		setQueuedCondition(st, gen)
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionSuperseded, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonCancelled,
			Message: fmt.Sprintf("pipeline run %s cancelled: %s", pr.Name, reason), ObservedGeneration: gen,
		})
	})
}

// updateDeliveryStatus applies mutate to the latest copy of a Delivery's status, retrying on
// conflicts with the other writers (the trigger, the queue, cancellations).
func (r *Reconciler) updateDeliveryStatus(ctx context.Context, key client.ObjectKey, mutate func(*v1alpha1.DeliveryStatus, int64)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var d v1alpha1.Delivery
		if err := r.Client.Get(ctx, key, &d); err != nil {
			return err
		}
		before := d.Status.DeepCopy()
		mutate(&d.Status, d.Generation)
		if apiEqual(before, &d.Status) {
			return nil
		}
		return r.Client.Status().Update(ctx, &d)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update delivery %s status: %w", key.Name, err)
	}
	return nil
}
