package localrunner

import (
	"fmt"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// TaskRunStatus builds the Tekton status of the TaskRun that ran (or runs) o.
func TaskRunStatus(o TaskOutcome) v1.TaskRunStatus {
	var st v1.TaskRunStatus
	cond := apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown, Reason: o.Reason, Message: o.Message}
	switch o.State {
	case TaskSucceeded:
		cond.Status = corev1.ConditionTrue
	case TaskFailed, TaskTimedOut, TaskCancelled:
		cond.Status = corev1.ConditionFalse
	}
	if cond.Reason == "" {
		cond.Reason = string(v1.TaskRunReasonRunning)
	}
	st.SetCondition(&cond)
	st.StartTime = metaTime(o.StartTime)
	if o.State.Done() {
		st.CompletionTime = metaTime(o.CompletionTime)
	}
	st.TaskSpec = o.Spec
	st.Results = o.Results
	for _, s := range o.Steps {
		term := &corev1.ContainerStateTerminated{ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message}
		if t := metaTime(s.StartedAt); t != nil {
			term.StartedAt = *t
		}
		if t := metaTime(s.FinishedAt); t != nil {
			term.FinishedAt = *t
		}
		st.Steps = append(st.Steps, v1.StepState{
			Name: s.Name, Container: "step-" + s.Name, TerminationReason: s.Reason,
			ContainerState: corev1.ContainerState{Terminated: term},
		})
	}
	for _, r := range o.Retries {
		r.Retries = nil
		st.RetriesStatus = append(st.RetriesStatus, TaskRunStatus(r))
	}
	return st
}

// outcomeFromTaskRun reads back what a TaskRun recorded, for resuming a PipelineRun. It
// reports false for a TaskRun that did not finish (it will be run again from scratch). A
// cancelled TaskRun finished: a graceful cancel or a timeout stopped it, and resuming must
// not run it again.
func outcomeFromTaskRun(tr *v1.TaskRun) (TaskOutcome, bool) {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	if c == nil || c.Status == corev1.ConditionUnknown {
		return TaskOutcome{}, false
	}
	o := TaskOutcome{
		PipelineTask: tr.Labels[labelPipelineTask], TaskRunName: tr.Name,
		State: TaskSucceeded, Reason: c.Reason, Message: c.Message,
		Params: tr.Spec.Params, Spec: tr.Status.TaskSpec, Results: tr.Status.Results,
	}
	switch {
	case c.Status == corev1.ConditionFalse && c.Reason == string(v1.TaskRunReasonCancelled):
		o.State = TaskCancelled
	case c.Status == corev1.ConditionFalse:
		o.State = TaskFailed
	}
	if tr.Status.StartTime != nil {
		o.StartTime = tr.Status.StartTime.Time
	}
	if tr.Status.CompletionTime != nil {
		o.CompletionTime = tr.Status.CompletionTime.Time
	}
	for _, s := range tr.Status.Steps {
		so := StepOutcome{Name: s.Name, Reason: s.TerminationReason}
		if t := s.Terminated; t != nil {
			so.ExitCode, so.StartedAt, so.FinishedAt = t.ExitCode, t.StartedAt.Time, t.FinishedAt.Time
		}
		o.Steps = append(o.Steps, so)
	}
	return o, true
}

// progress is the Tekton message of a PipelineRun that is still running.
func progress(tasks map[string]TaskOutcome, total int) string {
	var completed, failed, cancelled, skipped int
	for _, o := range tasks {
		switch o.State {
		case TaskSucceeded:
			completed++
		case TaskFailed, TaskTimedOut:
			completed++
			failed++
		case TaskCancelled:
			completed++
			cancelled++
		case TaskSkipped:
			skipped++
		}
	}
	return fmt.Sprintf("Tasks Completed: %d (Failed: %d, Cancelled %d), Skipped: %d, Incomplete: %d",
		completed, failed, cancelled, skipped, total-completed-skipped)
}

// childReferences lists the TaskRuns of a run in spec order (skipped tasks have none).
func childReferences(order []string, tasks map[string]TaskOutcome) ([]v1.ChildStatusReference, []v1.SkippedTask) {
	var refs []v1.ChildStatusReference
	var skipped []v1.SkippedTask
	for _, name := range order {
		o, ok := tasks[name]
		switch {
		case !ok:
		case o.State == TaskSkipped:
			skipped = append(skipped, v1.SkippedTask{Name: name, Reason: o.SkipReason, WhenExpressions: o.When})
		case o.TaskRunName != "":
			refs = append(refs, v1.ChildStatusReference{
				TypeMeta:         runtimeTypeMeta("TaskRun"),
				Name:             o.TaskRunName,
				PipelineTaskName: name,
			})
		}
	}
	return refs, skipped
}

// markRunning sets the condition of a PipelineRun that is still running: Running, or Tekton's
// CancelledRunningFinally and StoppedRunningFinally while a graceful end runs finally.
func markRunning(pr *v1.PipelineRun, message string, now time.Time) {
	st := &pr.Status
	if st.StartTime == nil {
		st.StartTime = metaTime(now)
	}
	st.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown,
		Reason: runningReason(pr), Message: message})
}

func runningReason(pr *v1.PipelineRun) string {
	switch {
	case pr.IsGracefullyCancelled():
		return string(v1.PipelineRunReasonCancelledRunningFinally)
	case pr.IsGracefullyStopped():
		return string(v1.PipelineRunReasonStoppedRunningFinally)
	}
	return string(v1.PipelineRunReasonRunning)
}

// markDone writes the final outcome into a PipelineRun status.
func markDone(st *v1.PipelineRunStatus, out Outcome, order []string) {
	status := corev1.ConditionFalse
	if out.Succeeded {
		status = corev1.ConditionTrue
	}
	st.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: status, Reason: out.Reason, Message: out.Message})
	if st.StartTime == nil {
		st.StartTime = metaTime(out.StartTime)
	}
	st.CompletionTime = metaTime(out.CompletionTime)
	st.Results = out.Results
	tasks := map[string]TaskOutcome{}
	for _, o := range out.Tasks {
		tasks[o.PipelineTask] = o
	}
	if len(out.Tasks) > 0 {
		st.ChildReferences, st.SkippedTasks = childReferences(order, tasks)
	}
}

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
