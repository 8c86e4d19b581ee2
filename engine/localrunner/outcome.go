package localrunner

import (
	"context"
	"fmt"
	"slices"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// outcome summarises the run the way Tekton's PipelineRun reconciler does.
func (e *executor) outcome(ctx, pipelineCtx context.Context, out Outcome) Outcome {
	out.CompletionTime = e.opts.Now()
	var completed, failed, cancelled, skipped int
	for _, pt := range slices.Concat(e.spec.Tasks, e.spec.Finally) {
		o := e.outcomes[pt.Name]
		if o == nil {
			o = &TaskOutcome{PipelineTask: pt.Name, State: TaskSkipped, SkipReason: v1.StoppingSkip}
		}
		out.Tasks = append(out.Tasks, *o)
		switch o.State {
		case TaskSkipped:
			skipped++
			out.SkippedTasks = append(out.SkippedTasks, v1.SkippedTask{Name: o.PipelineTask, Reason: o.SkipReason, WhenExpressions: o.When})
		case TaskSucceeded:
			completed++
		case TaskFailed, TaskTimedOut:
			completed++
			if o.Finally || !e.continueOnError(o.PipelineTask) {
				failed++
			}
		case TaskCancelled:
			completed++
			cancelled++
		}
	}
	out.Results = e.pipelineResults()
	pr := e.run.PipelineRun
	out.Message = fmt.Sprintf("Tasks Completed: %d (Failed: %d, Cancelled %d), Skipped: %d", completed, failed, cancelled, skipped)
	switch {
	case ctx.Err() != nil:
		out.Reason = string(v1.PipelineRunReasonCancelled)
		out.Message = fmt.Sprintf("PipelineRun %q was cancelled", pr.Name)
	case e.timeout != nil || context.Cause(pipelineCtx) == errPipelineTimeout:
		cause := e.timeout
		if cause == nil {
			cause = errPipelineTimeout
		}
		out.Reason = string(v1.PipelineRunReasonTimedOut)
		out.Message = fmt.Sprintf("PipelineRun %q failed to finish within its timeouts: %v", pr.Name, cause)
	case e.fatal != "":
		out.Reason, out.Message = e.fatal, e.fatalMsg
	case failed > 0:
		out.Reason = string(v1.PipelineRunReasonFailed)
	case e.graceful != "":
		// A graceful cancel or stop ends Cancelled unless a task failed, whatever finally did.
		out.Reason = string(v1.PipelineRunReasonCancelled)
		out.Message = fmt.Sprintf("PipelineRun %q was cancelled", pr.Name)
	case cancelled > 0:
		out.Reason = string(v1.PipelineRunReasonCancelled)
	case skipped > 0:
		out.Reason, out.Succeeded = string(v1.PipelineRunReasonCompleted), true
	default:
		out.Reason, out.Succeeded = string(v1.PipelineRunReasonSuccessful), true
	}
	return out
}

// pipelineResults resolves spec.results; a result whose references were not produced is
// left out, as Tekton does.
func (e *executor) pipelineResults() []v1.PipelineRunResult {
	var out []v1.PipelineRunResult
	for _, r := range e.spec.Results {
		v := *r.Value.DeepCopy()
		if v.Type == "" {
			v.Type = v1.ParamTypeString
		}
		exprs, _ := v1.Param{Value: v}.GetVarSubstitutionExpressions()
		if len(e.rep.unresolvedResults(exprs)) > 0 {
			continue
		}
		v.ApplyReplacements(e.rep.str, e.rep.arr, e.rep.obj)
		out = append(out, v1.PipelineRunResult{Name: r.Name, Value: v})
	}
	return out
}
