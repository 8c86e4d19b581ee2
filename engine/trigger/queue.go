package trigger

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// DefaultMaxConcurrentRuns is an Application's limit of executing runs when its BuildSpec sets
// none.
const DefaultMaxConcurrentRuns = 2

// appLocks serializes admissions per Application within one process, so that the trigger and the
// queue controller never both hand out the last slot. The queue itself lives in the runs.
type appLocks struct {
	mu    sync.Mutex
	locks map[client.ObjectKey]*sync.Mutex
}

func (l *appLocks) lock(key client.ObjectKey) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[client.ObjectKey]*sync.Mutex{}
	}
	m, ok := l.locks[key]
	if !ok {
		m = &sync.Mutex{}
		l.locks[key] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// queueReconciler starts an Application's queued runs when slots free.
type queueReconciler struct{ r *Reconciler }

// Reconcile admits the queued runs of the Application named by req.
func (q queueReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var app v1alpha1.Application
	if err := q.r.Client.Get(ctx, req.NamespacedName, &app); err != nil {
		// Runs of a deleted Application are garbage-collected with it.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, q.r.Admit(ctx, &app)
}

func (r *Reconciler) setupQueue(mgr ctrl.Manager) error {
	toApp := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		app := o.GetLabels()[v1alpha1.LabelApplication]
		if app == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: app}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("trigger-queue").
		For(&v1alpha1.Application{}).
		Watches(&tektonv1.PipelineRun{}, toApp).
		Complete(queueReconciler{r: r})
}

func maxRuns(app *v1alpha1.Application) int {
	if n := app.Spec.Build.MaxConcurrentRuns; n > 0 {
		return int(n)
	}
	return DefaultMaxConcurrentRuns
}

// occupiesSlot reports whether a run counts against its Application's limit: it has started (or
// is about to) and has neither finished nor been cancelled.
func occupiesSlot(pr *tektonv1.PipelineRun) bool {
	return !pr.IsDone() && !pr.IsPending() && !isCancelled(pr)
}

// queued reports whether a run waits in Slipway's queue (and not pending for someone else).
func queued(pr *tektonv1.PipelineRun) bool {
	return pr.IsPending() && !pr.IsDone() && pr.Labels[v1alpha1.LabelQueued] == "true"
}

// Admit starts an Application's queued runs, first in first out, while it has free slots, and
// writes the positions of those still waiting onto their Deliveries. It reads the runs from the
// API server, not a cache, so that a slot is never handed out twice.
func (r *Reconciler) Admit(ctx context.Context, app *v1alpha1.Application) error {
	defer r.locks.lock(client.ObjectKeyFromObject(app))()
	var list tektonv1.PipelineRunList
	if err := r.reader().List(ctx, &list, client.InNamespace(app.Namespace),
		client.MatchingLabels{v1alpha1.LabelApplication: app.Name}); err != nil {
		return fmt.Errorf("list pipeline runs of %s: %w", app.Name, err)
	}
	busy := 0
	var waiting []*tektonv1.PipelineRun
	for i := range list.Items {
		pr := &list.Items[i]
		switch {
		case occupiesSlot(pr):
			busy++
		case queued(pr):
			waiting = append(waiting, pr)
		}
	}
	sort.Slice(waiting, func(i, j int) bool { return queueLess(waiting[i], waiting[j]) })

	var started []*tektonv1.PipelineRun
	for len(waiting) > 0 && busy < maxRuns(app) {
		pr := waiting[0]
		ok, err := r.Runs.Start(ctx, pr.Namespace, pr.Name)
		if apierrors.IsNotFound(err) || (err == nil && !ok) {
			break // changed under us (cancelled, deleted): the watch brings us back
		}
		if err != nil {
			return err
		}
		r.logger().Info("queued pipeline run started", "application", app.Name, "pipelineRun", pr.Name)
		started = append(started, pr)
		waiting = waiting[1:]
		busy++
	}

	// Positions go to the Deliveries; a run's entry is only touched once the trigger recorded it.
	type place struct{ pos, n int32 }
	byDelivery := map[string]map[string]place{}
	note := func(pr *tektonv1.PipelineRun, p place) {
		d := pr.Labels[v1alpha1.LabelDelivery]
		if byDelivery[d] == nil {
			byDelivery[d] = map[string]place{}
		}
		byDelivery[d][pr.Name] = p
	}
	for _, pr := range started {
		note(pr, place{})
	}
	for i, pr := range waiting {
		note(pr, place{pos: int32(i + 1), n: int32(len(waiting))})
	}
	var errs []string
	for d, runs := range byDelivery {
		err := r.updateDeliveryStatus(ctx, client.ObjectKey{Namespace: app.Namespace, Name: d}, func(st *v1alpha1.DeliveryStatus, gen int64) {
			for i := range st.Triggered {
				if p, ok := runs[st.Triggered[i].PipelineRun]; ok {
					st.Triggered[i].QueuePosition, st.Triggered[i].QueueLength = p.pos, p.n
				}
			}
			setQueuedCondition(st, gen)
		})
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("record queue of %s: %s", app.Name, strings.Join(errs, "; "))
	}
	return nil
}

// queueLess orders the queue by the Deliveries' receive times, then creation, then name.
func queueLess(a, b *tektonv1.PipelineRun) bool {
	ta, tb := runUpdate(a).receivedAt, runUpdate(b).receivedAt
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// setQueuedCondition derives a Delivery's Queued condition from its runs' queue positions:
// "position N of M" while one waits (one such part per Application when several wait).
func setQueuedCondition(st *v1alpha1.DeliveryStatus, gen int64) {
	var parts []string
	wasQueued := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionQueued) != nil
	for _, t := range st.Triggered {
		if t.QueuePosition > 0 {
			parts = append(parts, fmt.Sprintf("%s: position %d of %d", t.Application, t.QueuePosition, t.QueueLength))
		}
	}
	switch {
	case len(parts) == 1:
		_, msg, _ := strings.Cut(parts[0], ": ")
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionQueued, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonQueued, Message: msg, ObservedGeneration: gen})
	case len(parts) > 1:
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionQueued, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonQueued, Message: strings.Join(parts, "; "), ObservedGeneration: gen})
	case wasQueued:
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionQueued, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonStarted, Message: "no run is waiting for a slot", ObservedGeneration: gen})
	}
}

func apiEqual(a, b *v1alpha1.DeliveryStatus) bool { return equality.Semantic.DeepEqual(a, b) }

func (r *Reconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

func receivedAtAnnotation(d *v1alpha1.Delivery) string {
	return d.Spec.ReceivedAt.UTC().Format(time.RFC3339Nano)
}
