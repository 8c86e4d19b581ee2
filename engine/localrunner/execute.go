package localrunner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/reconciler/pipeline/dag"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/kmeta"
)

// Causes attached to contexts so that a task can tell why it was stopped.
var (
	errPipelineTimeout = errors.New("pipelinerun timeout reached")
	errTasksTimeout    = errors.New("pipelinerun tasks timeout reached")
	errFinallyTimeout  = errors.New("pipelinerun finally timeout reached")
	errTaskTimeout     = errors.New("taskrun timeout reached")
	errStepTimeout     = errors.New("step timeout reached")
	// errGracefullyCancelled stops the DAG tasks of a run whose spec.status became
	// CancelledRunFinally; its finally tasks still run.
	errGracefullyCancelled = errors.New("pipelinerun gracefully cancelled by spec.status " + v1.PipelineRunSpecStatusCancelledRunFinally)
)

// defaultPipelineTimeout is Tekton's default-timeout-minutes.
const defaultPipelineTimeout = 60 * time.Minute

// executor holds the state of one Execute call. Everything but the task goroutines runs on
// the goroutine that called Execute; task goroutines only read the fields set before they start.
type executor struct {
	run    Run
	spec   *v1.PipelineSpec
	opts   Options
	log    *slog.Logger
	runDir string
	// workspaces maps a PipelineRun workspace binding name to its directory.
	workspaces map[string]string
	// volumes are the workspace directories filled from Secrets, removed when the run ends.
	volumes []string
	// tokens are the projected workspaces that hold ServiceAccount tokens, by binding name;
	// each task that binds one gets fresh tokens.
	tokens   map[string]*corev1.ProjectedVolumeSource
	rep      replacements
	outcomes map[string]*TaskOutcome
	// stopping is set once a DAG task fails: no new DAG tasks start, finally still runs.
	stopping bool
	// fatal, when set, fails the run with this reason whatever the tasks did.
	fatal, fatalMsg string
	// timeout is the cause of the first timeout that cut tasks short.
	timeout error
	// graceful is the graceful end asked for by spec.status (CancelledRunFinally or
	// StoppedRunFinally): no new DAG tasks start, finally runs. cancelDAG stops the running
	// DAG tasks for CancelledRunFinally.
	graceful  v1.PipelineRunSpecStatus
	cancelDAG context.CancelCauseFunc
}

// Execute runs run to completion on the host and reports how it ended. It returns when every
// task it started has ended; cancelling ctx cancels the run (finally tasks do not run), and
// Options.SpecStatus ends it gracefully (finally tasks run).
func Execute(ctx context.Context, run Run, opts Options) Outcome {
	opts = opts.withDefaults()
	pr := run.PipelineRun
	e := &executor{
		run:      run,
		opts:     opts,
		log:      opts.Logger.With("pipelinerun", pr.Namespace+"/"+pr.Name),
		runDir:   filepath.Join(opts.WorkRoot, pr.Namespace, pr.Name),
		outcomes: map[string]*TaskOutcome{},
	}
	start := opts.Now()
	if pr.Status.StartTime != nil && !pr.Status.StartTime.IsZero() {
		start = pr.Status.StartTime.Time // resumed: deadlines count from the first start
	}
	out := Outcome{StartTime: start}
	if reason, err := e.prepare(ctx); err != nil {
		out.Reason, out.Message, out.CompletionTime = reason, err.Error(), opts.Now()
		return out
	}
	graph, err := dag.Build(v1.PipelineTaskList(e.spec.Tasks), v1.PipelineTaskList(e.spec.Tasks).Deps())
	if err != nil {
		out.Reason, out.Message, out.CompletionTime = string(v1.PipelineRunReasonInvalidGraph), err.Error(), opts.Now()
		return out
	}

	// Secret material lives on disk only while the run executes.
	defer e.removeVolumes()
	pipelineCtx, tasksCtx, cancel := e.deadlines(ctx, start)
	defer cancel()
	dagCtx, cancelDAG := context.WithCancelCause(tasksCtx)
	defer cancelDAG(nil)
	e.cancelDAG = cancelDAG
	e.interrupt(ctx, pr.Spec.Status)
	e.runGraph(dagCtx, e.spec.Tasks, graph, false)
	e.noteTimeout(ctx, tasksCtx)

	if len(e.spec.Finally) > 0 {
		e.addStatusReplacements()
		finallyCtx := pipelineCtx
		if d := e.timeouts().Finally; d != nil && d.Duration > 0 {
			var c context.CancelFunc
			finallyCtx, c = context.WithTimeoutCause(pipelineCtx, d.Duration, errFinallyTimeout)
			defer c()
		}
		fg, err := dag.Build(v1.PipelineTaskList(e.spec.Finally), map[string][]string{})
		if err != nil {
			e.fail(string(v1.PipelineRunReasonInvalidGraph), err.Error())
		} else {
			e.runGraph(finallyCtx, e.spec.Finally, fg, true)
			e.noteTimeout(ctx, finallyCtx)
		}
	}
	return e.outcome(ctx, pipelineCtx, out)
}

// interruptObserver is an Observer that is also told when a graceful end takes effect.
type interruptObserver interface {
	RunInterrupted(ctx context.Context, status v1.PipelineRunSpecStatus)
}

// interrupt applies a spec.status to the run. Only the graceful ends matter here, and a
// graceful cancel overrides a graceful stop; a hard cancel arrives as ctx's cancellation.
func (e *executor) interrupt(ctx context.Context, status v1.PipelineRunSpecStatus) {
	switch {
	case status == v1.PipelineRunSpecStatusCancelledRunFinally && e.graceful != status:
		e.log.Info("gracefully cancelling: running tasks are cancelled, finally runs")
		e.cancelDAG(errGracefullyCancelled)
	case status == v1.PipelineRunSpecStatusStoppedRunFinally && e.graceful == "":
		e.log.Info("gracefully stopping: running tasks finish, no new ones start, finally runs")
	default:
		return
	}
	e.graceful = status
	if o, ok := e.opts.Observer.(interruptObserver); ok {
		o.RunInterrupted(ctx, status)
	}
}

// noteTimeout remembers that a timeout (not a cancellation of the parent) cut phase short.
func (e *executor) noteTimeout(parent, phase context.Context) {
	if e.timeout == nil && parent.Err() == nil && phase.Err() != nil {
		e.timeout = context.Cause(phase)
	}
}

// prepare validates the spec and sets up params, context variables and workspaces. It returns
// the Tekton reason to fail with.
func (e *executor) prepare(ctx context.Context) (string, error) {
	pr := e.run.PipelineRun
	if e.run.Pipeline == nil {
		return string(v1.PipelineRunReasonCouldntGetPipeline), errors.New("no pipeline spec")
	}
	e.spec = e.run.Pipeline.DeepCopy()
	e.spec.SetDefaults(ctx)
	if ferr := e.spec.Validate(ctx); ferr != nil {
		return string(v1.PipelineRunReasonFailedValidation), fmt.Errorf("pipeline spec is invalid: %w", ferr)
	}
	for _, pt := range slices.Concat(e.spec.Tasks, e.spec.Finally) {
		if e.run.Tasks[pt.Name] == nil {
			return string(v1.PipelineRunReasonCouldntGetTask), fmt.Errorf("no task spec resolved for pipeline task %q", pt.Name)
		}
	}
	e.rep = newReplacements()
	if missing := e.rep.addParams(e.spec.Params, pr.Spec.Params); len(missing) > 0 {
		return string(v1.PipelineRunReasonParameterMissing), fmt.Errorf("pipelinerun %s is missing params %v", pr.Name, missing)
	}
	pipelineName := pr.Name
	if pr.Spec.PipelineRef != nil && pr.Spec.PipelineRef.Name != "" {
		pipelineName = pr.Spec.PipelineRef.Name
	}
	for k, v := range map[string]string{
		"context.pipelineRun.name":      pr.Name,
		"context.pipelineRun.namespace": pr.Namespace,
		"context.pipelineRun.uid":       string(pr.UID),
		"context.pipeline.name":         pipelineName,
	} {
		e.rep.str[k] = v
	}
	e.workspaces = map[string]string{}
	for _, b := range pr.Spec.Workspaces {
		dir := filepath.Join(e.runDir, "workspaces", b.Name, b.SubPath)
		if b.PersistentVolumeClaim != nil && e.opts.VolumeRoot != "" {
			// A claim outlives the run, as a PersistentVolumeClaim does in a cluster: the
			// same claim in the same namespace is the same directory on every run.
			dir = filepath.Join(e.opts.VolumeRoot, pr.Namespace, b.PersistentVolumeClaim.ClaimName, b.SubPath)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return string(v1.PipelineRunReasonInvalidWorkspaceBinding), fmt.Errorf("create workspace %q: %w", b.Name, err)
		}
		if b.Secret != nil || b.ConfigMap != nil || b.Projected != nil {
			if err := e.fillVolume(ctx, b, dir); err != nil {
				return string(v1.PipelineRunReasonInvalidWorkspaceBinding), fmt.Errorf("workspace %q: %w", b.Name, err)
			}
		}
		e.workspaces[b.Name] = dir
	}
	for _, w := range e.spec.Workspaces {
		if _, ok := e.workspaces[w.Name]; !ok && !w.Optional {
			return string(v1.PipelineRunReasonInvalidWorkspaceBinding), fmt.Errorf("pipeline workspace %q is not bound by the pipelinerun", w.Name)
		}
	}
	return "", nil
}

func (e *executor) timeouts() v1.TimeoutFields {
	if t := e.run.PipelineRun.Spec.Timeouts; t != nil {
		return *t
	}
	return v1.TimeoutFields{}
}

// deadlines derives the pipeline context (timeouts.pipeline, default 60m, 0 = none) and the
// context for DAG tasks (timeouts.tasks, or pipeline minus finally).
func (e *executor) deadlines(ctx context.Context, start time.Time) (pipelineCtx, tasksCtx context.Context, cancel func()) {
	t := e.timeouts()
	total := defaultPipelineTimeout
	if t.Pipeline != nil {
		total = t.Pipeline.Duration
	}
	var cancels []context.CancelFunc
	pipelineCtx = ctx
	if total > 0 {
		var c context.CancelFunc
		pipelineCtx, c = context.WithDeadlineCause(ctx, start.Add(total), errPipelineTimeout)
		cancels = append(cancels, c)
	}
	tasksCtx = pipelineCtx
	var tasks time.Duration
	switch {
	case t.Tasks != nil:
		tasks = t.Tasks.Duration
	case t.Finally != nil && total > 0:
		tasks = total - t.Finally.Duration
	}
	if tasks > 0 {
		var c context.CancelFunc
		tasksCtx, c = context.WithDeadlineCause(pipelineCtx, start.Add(tasks), errTasksTimeout)
		cancels = append(cancels, c)
	}
	return pipelineCtx, tasksCtx, func() {
		for _, c := range cancels {
			c()
		}
	}
}

// runGraph runs tasks in dependency order, at most MaxParallel at a time, and returns once
// every task has an outcome and every goroutine it started has ended.
func (e *executor) runGraph(ctx context.Context, tasks []v1.PipelineTask, g *dag.Graph, finally bool) {
	var done []string
	started := map[string]bool{}
	finished := make(chan TaskOutcome)
	running := 0
	signals := e.opts.SpecStatus
	for {
		candidates, err := dag.GetCandidateTasks(g, done...)
		if err != nil {
			e.fail(string(v1.PipelineRunReasonInvalidGraph), err.Error())
			candidates = nil
		}
		progressed := false
		for i := range tasks {
			pt := &tasks[i]
			if !candidates.Has(pt.Name) || started[pt.Name] {
				continue
			}
			if o, ok := e.opts.Previous[pt.Name]; ok && o.State.Done() && o.State != TaskSkipped {
				started[pt.Name], progressed = true, true
				o.Finally = finally
				e.record(o)
				done = append(done, pt.Name)
				continue
			}
			if o, skip := e.skip(ctx, pt, finally); skip {
				started[pt.Name], progressed = true, true
				e.record(o)
				e.notify(ctx, o)
				done = append(done, pt.Name)
				continue
			}
			if running >= e.opts.MaxParallel {
				continue
			}
			started[pt.Name] = true
			running++
			tr := &taskRun{e: e, pt: pt, finally: finally, rep: e.taskReplacements(pt)}
			go func() { finished <- tr.execute(ctx) }()
		}
		if progressed {
			continue // a skip or a reused outcome can make new candidates
		}
		if running == 0 {
			return
		}
		select {
		case o := <-finished:
			running--
			e.record(o)
			done = append(done, o.PipelineTask)
		case st, ok := <-signals:
			if !ok {
				signals = nil
				continue
			}
			// Candidates waiting for a free slot are skipped on the next round.
			e.interrupt(ctx, st)
		}
	}
}

// record stores a final task outcome and makes its results visible to later tasks.
func (e *executor) record(o TaskOutcome) {
	e.outcomes[o.PipelineTask] = &o
	if o.State == TaskSucceeded {
		e.rep.addTaskResults(o.PipelineTask, o.Results)
	}
	if !o.Finally && (o.State == TaskFailed || o.State == TaskTimedOut || o.State == TaskCancelled) && !e.continueOnError(o.PipelineTask) {
		e.stopping = true
	}
}

func (e *executor) continueOnError(name string) bool {
	for _, pt := range e.spec.Tasks {
		if pt.Name == name {
			return pt.OnError == v1.PipelineTaskContinue
		}
	}
	return false
}

func (e *executor) notify(ctx context.Context, o TaskOutcome) {
	if e.opts.Observer != nil {
		e.opts.Observer.TaskUpdate(ctx, o)
	}
}

func (e *executor) fail(reason, msg string) {
	if e.fatal == "" {
		e.fatal, e.fatalMsg = reason, msg
	}
	e.stopping = true
}

// taskReplacements is the pipeline-level substitution for one task (a copy: tasks started
// later see more results).
func (e *executor) taskReplacements(pt *v1.PipelineTask) replacements {
	r := e.rep.clone()
	r.str["context.pipelineTask.retries"] = fmt.Sprint(pt.Retries)
	return r
}

// TaskRunName is the name the TaskRun of a pipeline task gets, as Tekton names it.
func TaskRunName(pipelineRun, pipelineTask string) string {
	return kmeta.ChildName(pipelineRun, "-"+pipelineTask)
}

// skip decides, in Tekton's order, whether a candidate task is skipped instead of run.
func (e *executor) skip(ctx context.Context, pt *v1.PipelineTask, finally bool) (TaskOutcome, bool) {
	o := TaskOutcome{PipelineTask: pt.Name, Finally: finally, State: TaskSkipped, Reason: "Skipped"}
	if ctx.Err() != nil || (!finally && (e.stopping || e.graceful != "")) {
		o.SkipReason = e.interruptedSkip(ctx, finally)
		return o, true
	}
	if !finally && e.parentSkipped(pt) {
		o.SkipReason = v1.ParentTasksSkip
		return o, true
	}
	rep := e.taskReplacements(pt)
	if missing := rep.unresolvedResults(pipelineTaskExpressions(pt)); len(missing) > 0 {
		if finally || e.producersSkippedOrFailed(missing) {
			o.SkipReason = v1.MissingResultsSkip
			o.Message = fmt.Sprintf("results %v were not produced", missing)
			return o, true
		}
		// A producer succeeded without writing a result another task needs: Tekton fails the run.
		e.fail(string(v1.PipelineRunReasonInvalidTaskResultReference),
			fmt.Sprintf("pipeline task %q references results %v that were not produced", pt.Name, missing))
		o.SkipReason = v1.StoppingSkip
		return o, true
	}
	if len(pt.When) > 0 {
		when := rep.applyToWhen(pt.When)
		for _, we := range when {
			if we.CEL != "" {
				e.fail(string(v1.PipelineRunReasonCELEvaluationFailed), fmt.Sprintf("pipeline task %q: CEL when expressions are not supported by the local runner", pt.Name))
				o.SkipReason = v1.StoppingSkip
				return o, true
			}
		}
		if !when.AllowsExecution(nil) {
			o.SkipReason, o.When = v1.WhenExpressionsSkip, when
			return o, true
		}
	}
	return o, false
}

// interruptedSkip is why a task is not started once the run is ending: a timeout, a failed
// DAG task, or a graceful cancel or stop, in Tekton's order.
func (e *executor) interruptedSkip(ctx context.Context, finally bool) v1.SkippingReason {
	switch context.Cause(ctx) {
	case errPipelineTimeout:
		return v1.PipelineTimedOutSkip
	case errTasksTimeout:
		return v1.TasksTimedOutSkip
	case errFinallyTimeout:
		return v1.FinallyTimedOutSkip
	}
	switch {
	case finally || e.stopping:
		return v1.StoppingSkip
	case e.graceful == v1.PipelineRunSpecStatusCancelledRunFinally:
		return v1.GracefullyCancelledSkip
	case e.graceful == v1.PipelineRunSpecStatusStoppedRunFinally:
		return v1.GracefullyStoppedSkip
	}
	return v1.StoppingSkip
}

// parentSkipped follows Tekton: a parent skipped by its own when expressions does not skip
// its children (when-expression scope is the task), any other skip does.
func (e *executor) parentSkipped(pt *v1.PipelineTask) bool {
	for _, dep := range pt.Deps() {
		if p := e.outcomes[dep]; p != nil && p.State == TaskSkipped && p.SkipReason != v1.WhenExpressionsSkip {
			return true
		}
	}
	return false
}

func (e *executor) producersSkippedOrFailed(refs []string) bool {
	for _, ref := range refs {
		task, _, _ := cutLast(ref, ".")
		if p := e.outcomes[task]; p == nil || p.State == TaskSucceeded {
			return false
		}
	}
	return true
}

func cutLast(s, sep string) (before, after string, found bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// addStatusReplacements provides $(tasks.status) and $(tasks.<t>.status) to finally tasks.
func (e *executor) addStatusReplacements() {
	agg := "Succeeded"
	for _, pt := range e.spec.Tasks {
		o := e.outcomes[pt.Name]
		st := "None"
		if o != nil {
			switch o.State {
			case TaskSucceeded:
				st = "Succeeded"
			case TaskFailed, TaskTimedOut, TaskCancelled:
				st = "Failed"
			}
		}
		e.rep.str["tasks."+pt.Name+".status"] = st
		switch {
		case st == "Failed":
			agg = "Failed"
		case st == "None" && agg == "Succeeded":
			agg = "Completed"
		}
	}
	e.rep.str["tasks.status"] = agg
}
