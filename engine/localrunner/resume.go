package localrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Annotations the controller keeps on a run it resumes.
const (
	// ResumesAnnotation counts the times a run was resumed after its runner died while running
	// it (a crash, a SIGKILL, the machine going down), not after a clean shutdown.
	ResumesAnnotation = "slipway.dev/resumes"
	// StoppedAnnotation marks a run that a runner left Running when it shut down cleanly; the
	// next runner resumes it without counting a crash. Its value is the time of the shutdown.
	StoppedAnnotation = "slipway.dev/runner-stopped"
)

// ReasonResumeLimit is the reason of a run failed because its runner died while running it
// more often than the controller resumes a run (see WithMaxResumes).
const ReasonResumeLimit = "ResumeLimitExceeded"

// resume counts the resume of a run a runner left Running, and ends the run instead once it
// has been resumed after crashes more often than allowed. The count is stored before anything
// runs again, so a run that kills its runner every time still reaches the limit.
func (c *Controller) resume(ctx context.Context, log *slog.Logger, pr *v1.PipelineRun) (ended bool, err error) {
	started := pr.Status.StartTime != nil
	_, clean := pr.Annotations[StoppedAnnotation]
	if !started && !clean {
		return false, nil // a fresh run
	}
	n, _ := strconv.Atoi(pr.Annotations[ResumesAnnotation])
	crashed := started && !clean
	change := map[string]any{StoppedAnnotation: nil}
	if crashed {
		n++
		change[ResumesAnnotation] = strconv.Itoa(n)
	}
	if err := c.annotate(ctx, pr, change); err != nil {
		return false, err
	}
	if !started {
		return false, nil
	}
	if !crashed || n <= c.cfg.maxResumes {
		log.Info("resuming", "afterCrash", crashed, "resumes", n)
		return false, nil
	}
	trs, err := c.taskRuns(ctx, pr)
	if err != nil {
		return false, err
	}
	var unfinished []string
	for i := range trs {
		if !trs[i].IsDone() {
			unfinished = append(unfinished, trs[i].Labels[labelPipelineTask])
		}
	}
	msg := fmt.Sprintf("PipelineRun %q was not resumed: the local runner died while running it %d times", pr.Name, n)
	if len(unfinished) > 0 {
		msg += fmt.Sprintf(", the last time while tasks %v ran", unfinished)
	}
	msg += "; a step may be taking the runner down (memory, signals); see the runner's log, then start a new run"
	out := Outcome{Reason: ReasonResumeLimit, Message: msg, StartTime: pr.Status.StartTime.Time, CompletionTime: c.opts.Now()}
	c.writeOutcome(ctx, log, pr, out, nil)
	return true, nil
}

// markStopped records that this runner, not a crash, left pr Running (a shutdown, or an error
// to retry on the next poll).
func (c *Controller) markStopped(ctx context.Context, pr *v1.PipelineRun) error {
	return c.annotate(ctx, pr, map[string]any{StoppedAnnotation: c.opts.Now().UTC().Format(metav1.RFC3339Micro)})
}

// annotate merge-patches pr's annotations; a nil value removes one.
func (c *Controller) annotate(ctx context.Context, pr *v1.PipelineRun, change map[string]any) error {
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": change}})
	if err != nil {
		return err
	}
	target := &v1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Namespace: pr.Namespace, Name: pr.Name}}
	if err := c.client.Patch(ctx, target, client.RawPatch(types.MergePatchType, b)); err != nil {
		return fmt.Errorf("annotate pipelinerun %s: %w", pr.Name, err)
	}
	return nil
}
