// Package tektonexec runs Slipway's PipelineRuns on a cluster where Tekton Pipelines is
// installed: it submits them through Tekton's clientset, cancels them the way Tekton documents
// (spec.status), and follows their status to an Outcome with the run's results.
package tektonexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"knative.dev/pkg/apis"
)

// Phase is how a PipelineRun ended, or that it has not.
type Phase string

// Phases of a PipelineRun as Slipway acts on them.
const (
	// Running: not finished (pending, started, running, or running its finally tasks).
	Running Phase = "Running"
	// Succeeded: every task succeeded or was skipped.
	Succeeded Phase = "Succeeded"
	// Failed: a task failed, or Tekton could not run the pipeline at all.
	Failed Phase = "Failed"
	// Cancelled: cancelled through spec.status (for example superseded by a newer push).
	Cancelled Phase = "Cancelled"
	// TimedOut: a timeout ended the run.
	TimedOut Phase = "TimedOut"
)

// Outcome is a PipelineRun's state as Slipway acts on it.
type Outcome struct {
	Phase Phase
	// Reason and Message are Tekton's, from the Succeeded condition.
	Reason, Message string
	// Results are the pipeline's results, trimmed of surrounding white space.
	Results map[string]string
}

// Done reports whether the run has ended.
func (o Outcome) Done() bool { return o.Phase != Running }

// OutcomeOf reads pr's status.
func OutcomeOf(pr *v1.PipelineRun) Outcome {
	o := Outcome{Phase: Running, Results: map[string]string{}}
	for _, r := range pr.Status.Results {
		o.Results[r.Name] = strings.TrimSpace(r.Value.StringVal)
	}
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	if c == nil {
		return o
	}
	o.Reason, o.Message = c.Reason, c.Message
	switch c.Status {
	case corev1.ConditionTrue:
		o.Phase = Succeeded
	case corev1.ConditionFalse:
		switch v1.PipelineRunReason(c.Reason) {
		case v1.PipelineRunReasonCancelled:
			o.Phase = Cancelled
		case v1.PipelineRunReasonTimedOut:
			o.Phase = TimedOut
		default:
			o.Phase = Failed
		}
	}
	return o
}

// Executor submits, cancels and follows PipelineRuns through Tekton's clientset.
type Executor struct {
	client versioned.Interface
}

// New returns an Executor for the cluster cfg points at.
func New(cfg *rest.Config) (*Executor, error) {
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("tekton clientset: %w", err)
	}
	return &Executor{client: c}, nil
}

// NewWithClient returns an Executor using c.
func NewWithClient(c versioned.Interface) *Executor { return &Executor{client: c} }

// ErrNotOurs means a PipelineRun with the same name exists but was made for something else,
// so Submit did not adopt it.
var ErrNotOurs = errors.New("a different PipelineRun already has this name")

// Submit creates pr. It is idempotent: Slipway names runs deterministically, so a run that
// already exists with the same labels is the one an earlier attempt made, and is returned.
func (e *Executor) Submit(ctx context.Context, pr *v1.PipelineRun) (*v1.PipelineRun, error) {
	created, err := e.client.TektonV1().PipelineRuns(pr.Namespace).Create(ctx, pr, metav1.CreateOptions{})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create pipeline run %s/%s: %w", pr.Namespace, pr.Name, err)
	}
	existing, err := e.client.TektonV1().PipelineRuns(pr.Namespace).Get(ctx, pr.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get pipeline run %s/%s: %w", pr.Namespace, pr.Name, err)
	}
	for k, v := range pr.Labels {
		if existing.Labels[k] != v {
			return nil, fmt.Errorf("pipeline run %s/%s: %w (label %s is %q, want %q)", pr.Namespace, pr.Name, ErrNotOurs, k, existing.Labels[k], v)
		}
	}
	return existing, nil
}

// Cancel asks Tekton to cancel a run, and sets annotations (why, by whom) in the same write.
// With runFinally the run's finally tasks still run, as spec.status CancelledRunFinally asks,
// so that a finally task can report the outcome; a run still pending (queued, never started)
// ran nothing to report on and is simply Cancelled. Cancelling a finished or already
// cancelled run changes nothing. The write is conditional on the version read, so a run that
// finishes meanwhile is read again rather than patched blindly.
func (e *Executor) Cancel(ctx context.Context, ns, name string, runFinally bool, annotations map[string]string) error {
	runs := e.client.TektonV1().PipelineRuns(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pr, err := runs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if OutcomeOf(pr).Done() || pr.IsCancelled() || pr.IsGracefullyCancelled() || pr.IsGracefullyStopped() {
			return nil
		}
		status := v1.PipelineRunSpecStatusCancelled
		if runFinally && !pr.IsPending() {
			status = v1.PipelineRunSpecStatusCancelledRunFinally
		}
		meta := map[string]any{"resourceVersion": pr.ResourceVersion}
		if len(annotations) > 0 {
			meta["annotations"] = annotations // a null here would delete every annotation
		}
		patch, err := json.Marshal(map[string]any{"metadata": meta, "spec": map[string]any{"status": status}})
		if err != nil {
			return err
		}
		_, err = runs.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("cancel pipeline run %s/%s: %w", ns, name, err)
	}
	return nil
}

// Start releases a run created with spec.status PipelineRunPending (Slipway queues runs that
// way when an Application is at its concurrency limit). It reports false, and changes nothing,
// when the run is no longer pending: already started, cancelled or finished.
func (e *Executor) Start(ctx context.Context, ns, name string) (bool, error) {
	patch := []byte(`[{"op":"test","path":"/spec/status","value":"PipelineRunPending"},{"op":"remove","path":"/spec/status"}]`)
	_, err := e.client.TektonV1().PipelineRuns(ns).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &status) && status.Status().Code == http.StatusUnprocessableEntity:
		return false, nil // the test failed: the run was not pending
	}
	return false, fmt.Errorf("start pipeline run %s/%s: %w", ns, name, err)
}

// Wait follows a run until it ends or ctx is done, calling progress (if set) on every change,
// and returns its Outcome. It survives watch interruptions by resuming from the last version.
func (e *Executor) Wait(ctx context.Context, ns, name string, progress func(Outcome)) (Outcome, error) {
	runs := e.client.TektonV1().PipelineRuns(ns)
	for {
		pr, err := runs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return Outcome{}, fmt.Errorf("follow pipeline run %s/%s: %w", ns, name, err)
		}
		o := OutcomeOf(pr)
		if progress != nil {
			progress(o)
		}
		if o.Done() {
			return o, nil
		}
		w, err := runs.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: pr.ResourceVersion,
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("follow pipeline run %s/%s: %w", ns, name, err)
		}
		o, done, err := follow(ctx, w, progress)
		w.Stop()
		if err != nil || done {
			return o, err
		}
		// The watch closed (a timeout or an apiserver restart): read again and re-watch.
	}
}

func follow(ctx context.Context, w watch.Interface, progress func(Outcome)) (Outcome, bool, error) {
	for {
		select {
		case <-ctx.Done():
			return Outcome{}, false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return Outcome{}, false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return Outcome{}, false, errors.New("pipeline run was deleted before it finished")
			case watch.Error:
				return Outcome{}, false, nil
			}
			pr, ok := ev.Object.(*v1.PipelineRun)
			if !ok {
				continue
			}
			o := OutcomeOf(pr)
			if progress != nil {
				progress(o)
			}
			if o.Done() {
				return o, true, nil
			}
		}
	}
}
