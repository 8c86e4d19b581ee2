package localrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// maxResultSize caps one result file; Tekton's own limit depends on how results are carried
// (termination message or sidecar), this keeps a runaway step from filling the API object.
const maxResultSize = 1 << 20

// Step termination reasons, as Tekton reports them in steps[].terminationReason.
const (
	stepCompleted = "Completed"
	stepContinued = "Continued"
	stepError     = "Error"
	stepTimeout   = "TimeoutExceeded"
	stepSkipped   = "Skipped"
	stepCancelled = "Cancelled"
)

// taskRun executes one pipeline task, attempt after attempt.
type taskRun struct {
	e       *executor
	pt      *v1.PipelineTask
	finally bool
	rep     replacements // pipeline-level replacements as of the task's start
}

// taskDirs are the per-TaskRun host directories.
type taskDirs struct {
	root, results, scripts, home, work string
	// workspaces are the directories of the task's bound workspaces.
	workspaces []string
}

func (t *taskRun) execute(ctx context.Context) TaskOutcome {
	name := TaskRunName(t.e.run.PipelineRun.Name, t.pt.Name)
	params := t.rep.applyToParams(t.pt.Params)
	var retries []TaskOutcome
	for attempt := 0; ; attempt++ {
		o := t.attempt(ctx, name, params, attempt, retries)
		if o.State == TaskSucceeded || o.State == TaskCancelled || attempt >= t.pt.Retries || ctx.Err() != nil {
			t.e.notify(ctx, o)
			return o
		}
		t.e.log.Info("retrying task", "task", t.pt.Name, "attempt", attempt+1, "reason", o.Reason)
		retries = append(retries, o)
	}
}

func (t *taskRun) attempt(ctx context.Context, name string, params v1.Params, attempt int, retries []TaskOutcome) TaskOutcome {
	e := t.e
	o := TaskOutcome{
		PipelineTask: t.pt.Name, TaskRunName: name, Finally: t.finally,
		State: TaskRunning, Reason: string(v1.TaskRunReasonRunning), Message: "Not all Steps in the Task have finished executing",
		Params: params, Attempt: attempt, Retries: retries, StartTime: e.opts.Now(),
	}
	spec, dirs, err := t.prepare(ctx, name, params, attempt)
	if err != nil {
		o.State, o.Reason, o.Message = TaskFailed, string(v1.TaskRunReasonFailed), err.Error()
		o.CompletionTime = e.opts.Now()
		return o
	}
	o.Spec = spec
	e.notify(ctx, o)

	runCtx := ctx
	if d := t.pt.Timeout; d != nil && d.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, d.Duration, errTaskTimeout)
		defer cancel()
	}
	var failure string
	o.Steps, failure = t.runSteps(runCtx, name, attempt, spec, dirs)
	results, rerr := readResults(spec.Results, dirs.results)
	o.Results = results
	o.CompletionTime = e.opts.Now()
	switch {
	case runCtx.Err() != nil && context.Cause(runCtx) == errTaskTimeout:
		o.State, o.Reason = TaskTimedOut, string(v1.TaskRunReasonTimedOut)
		o.Message = fmt.Sprintf("TaskRun %q failed to finish within %q", name, t.pt.Timeout.Duration)
	case ctx.Err() != nil:
		o.State, o.Reason = TaskCancelled, string(v1.TaskRunReasonCancelled)
		o.Message = fmt.Sprintf("TaskRun %q was cancelled: %v", name, context.Cause(ctx))
	case failure != "":
		o.State, o.Reason, o.Message = TaskFailed, string(v1.TaskRunReasonFailed), failure
	case rerr != nil:
		o.State, o.Reason, o.Message = TaskFailed, string(v1.TaskRunReasonResultLargerThanAllowedLimit), rerr.Error()
	default:
		o.State, o.Reason, o.Message = TaskSucceeded, string(v1.TaskRunReasonSuccessful), "All Steps have completed executing"
	}
	return o
}

// prepare makes fresh per-TaskRun directories and substitutes params, results, workspaces and
// context into the task spec.
func (t *taskRun) prepare(ctx context.Context, name string, params v1.Params, attempt int) (*v1.TaskSpec, taskDirs, error) {
	e, pr := t.e, t.e.run.PipelineRun
	root := filepath.Join(e.runDir, "taskruns", name)
	d := taskDirs{root: root, results: filepath.Join(root, "results"), scripts: filepath.Join(root, "scripts"),
		home: filepath.Join(root, "home"), work: filepath.Join(root, "work")}
	// A retry, or a TaskRun resumed after a crash, starts from scratch.
	if err := os.RemoveAll(root); err != nil {
		return nil, d, fmt.Errorf("clean taskrun dir: %w", err)
	}
	for _, dir := range []string{d.results, d.scripts, d.home, d.work} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, d, fmt.Errorf("create taskrun dir: %w", err)
		}
	}

	ts := e.run.Tasks[t.pt.Name].DeepCopy()
	ts.SetDefaults(ctx)
	steps, err := v1.MergeStepsWithStepTemplate(ts.StepTemplate, ts.Steps)
	if err != nil {
		return nil, d, fmt.Errorf("merge step template: %w", err)
	}
	ts.Steps, ts.StepTemplate = steps, nil
	for i := range ts.Steps {
		if ts.Steps[i].Name == "" {
			ts.Steps[i].Name = "unnamed-" + strconv.Itoa(i)
		}
	}

	// Embedded task specs see the pipeline's params and results (Tekton propagates them);
	// referenced tasks only see the pipeline's context variables.
	r := newReplacements()
	if t.pt.TaskSpec != nil {
		r = t.rep.clone()
	} else {
		for k, v := range t.rep.str {
			if strings.HasPrefix(k, "context.") {
				r.str[k] = v
			}
		}
	}
	if missing := r.addParams(ts.Params, params); len(missing) > 0 {
		return nil, d, fmt.Errorf("pipeline task %q is missing params %v", t.pt.Name, missing)
	}
	for _, res := range ts.Results {
		p := filepath.Join(d.results, res.Name)
		r.str["results."+res.Name+".path"] = p
		r.str[fmt.Sprintf("results[%q].path", res.Name)] = p
		r.str["results['"+res.Name+"'].path"] = p
	}
	taskName := t.pt.Name
	if t.pt.TaskRef != nil && t.pt.TaskRef.Name != "" {
		taskName = t.pt.TaskRef.Name
	}
	r.str["context.taskRun.name"] = name
	r.str["context.taskRun.namespace"] = pr.Namespace
	r.str["context.taskRun.uid"] = ""
	r.str["context.task.name"] = taskName
	r.str["context.task.retry-count"] = strconv.Itoa(attempt)
	r.str["credentials.path"] = d.home
	wsDirs, err := t.bindWorkspaces(ctx, ts, r)
	if err != nil {
		return nil, d, err
	}
	if len(wsDirs) > 0 {
		d.work = wsDirs[0]
	}
	d.workspaces = wsDirs
	r.applyToTaskSpec(ts)
	return ts, d, nil
}

// bindWorkspaces maps each workspace the task declares to the directory of the PipelineRun
// binding the pipeline task passes, writing fresh tokens into a projected one, and returns the
// bound directories in declaration order.
func (t *taskRun) bindWorkspaces(ctx context.Context, ts *v1.TaskSpec, r replacements) ([]string, error) {
	var bound []string
	for _, w := range ts.Workspaces {
		dir := ""
		for _, b := range t.pt.Workspaces {
			if b.Name != w.Name {
				continue
			}
			pw := b.Workspace
			if pw == "" {
				pw = b.Name
			}
			base, ok := t.e.workspaces[pw]
			if !ok {
				continue
			}
			if p := t.e.tokens[pw]; p != nil {
				if err := t.e.writeTokens(ctx, p, base, t.pt.Name); err != nil {
					return nil, fmt.Errorf("workspace %q: %w", pw, err)
				}
			}
			dir = filepath.Join(base, b.SubPath)
		}
		if dir == "" && !w.Optional {
			return nil, fmt.Errorf("task workspace %q of pipeline task %q is not bound", w.Name, t.pt.Name)
		}
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("create workspace dir: %w", err)
			}
			bound = append(bound, dir)
		}
		r.str["workspaces."+w.Name+".path"] = dir
		r.str["workspaces."+w.Name+".bound"] = strconv.FormatBool(dir != "")
		r.str["workspaces."+w.Name+".claim"] = ""
		r.str["workspaces."+w.Name+".volume"] = w.Name
	}
	return bound, nil
}

// runSteps runs the steps in order; after a failing step the rest are skipped. It returns the
// step outcomes and, if a step failed, Tekton's failure message.
func (t *taskRun) runSteps(ctx context.Context, name string, attempt int, ts *v1.TaskSpec, d taskDirs) ([]StepOutcome, string) {
	e, pr := t.e, t.e.run.PipelineRun
	var out []StepOutcome
	failure := ""
	for i := range ts.Steps {
		step := &ts.Steps[i]
		so := StepOutcome{Name: step.Name, LogPath: LogPath(e.opts.LogRoot, pr.Namespace, pr.Name, name, step.Name, attempt)}
		if failure != "" || ctx.Err() != nil {
			so.Reason, so.ExitCode = stepSkipped, 1
			if ctx.Err() != nil {
				so.Reason = stepCancelled
			}
			_ = writeLog(so.LogPath, nil)
			out = append(out, so)
			continue
		}
		so = t.runStep(ctx, step, d, so)
		if so.Reason == stepError || so.Reason == stepTimeout || so.Reason == stepCancelled {
			failure = fmt.Sprintf("%q exited with code %d", "step-"+step.Name, so.ExitCode)
			if so.Message != "" {
				failure += ": " + so.Message
			}
		}
		out = append(out, so)
	}
	return out, failure
}

func (t *taskRun) runStep(ctx context.Context, step *v1.Step, d taskDirs, so StepOutcome) StepOutcome {
	e := t.e
	so.StartedAt = e.opts.Now()
	defer func() { so.FinishedAt = e.opts.Now() }()
	stepCtx := ctx
	if step.Timeout != nil && step.Timeout.Duration > 0 {
		var cancel context.CancelFunc
		stepCtx, cancel = context.WithTimeoutCause(ctx, step.Timeout.Duration, errStepTimeout)
		defer cancel()
	}
	env, err := t.stepEnv(ctx, step)
	dir := step.WorkingDir
	if dir == "" {
		dir = d.work
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join(d.work, dir)
	}
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	var code int
	logErr := withLog(so.LogPath, func(w io.Writer) {
		if err != nil {
			fmt.Fprintf(w, "slipway: %v\n", err)
			return
		}
		code, err = e.opts.Steps.RunStep(stepCtx, StepExec{
			TaskRun: filepath.Base(d.root), Name: step.Name, Image: step.Image,
			Command: step.Command, Args: step.Args, Script: step.Script,
			Dir: dir, Env: env, Home: d.home, ScriptDir: d.scripts, Log: w,
			Mounts: append([]string{d.root}, d.workspaces...),
		})
		if err != nil {
			fmt.Fprintf(w, "slipway: %v\n", err)
		}
	})
	if err == nil && logErr != nil {
		err = logErr
	}
	so.ExitCode = int32(code)
	switch {
	case stepCtx.Err() != nil && context.Cause(stepCtx) == errStepTimeout:
		so.Reason, so.Message = stepTimeout, fmt.Sprintf("step timed out after %s", step.Timeout.Duration)
	case ctx.Err() != nil && context.Cause(ctx) == errTaskTimeout:
		so.Reason = stepTimeout
	case ctx.Err() != nil:
		so.Reason = stepCancelled
	case err != nil:
		so.Reason, so.Message = stepError, err.Error()
		if so.ExitCode == 0 {
			so.ExitCode = 1
		}
	case code != 0 && step.OnError == v1.Continue:
		so.Reason = stepContinued
	case code != 0:
		so.Reason = stepError
	default:
		so.Reason = stepCompleted
	}
	if so.Reason == stepTimeout || so.Reason == stepCancelled {
		if so.ExitCode == 0 {
			so.ExitCode = 1
		}
	}
	return so
}

// stepEnv is the step's own environment, nothing inherited from the runner.
func (t *taskRun) stepEnv(ctx context.Context, step *v1.Step) ([]string, error) {
	var env []string
	for _, ev := range step.Env {
		v := ev.Value
		if ev.ValueFrom != nil {
			if t.e.opts.Env == nil {
				return nil, fmt.Errorf("env %s uses valueFrom, which needs a Secret/ConfigMap source the local runner was not given", ev.Name)
			}
			var err error
			if v, err = t.e.opts.Env.EnvValue(ctx, t.e.run.PipelineRun.Namespace, ev.ValueFrom); err != nil {
				return nil, fmt.Errorf("env %s: %w", ev.Name, err)
			}
		}
		env = append(env, ev.Name+"="+v)
	}
	return env, nil
}

// readResults reads the result files the steps wrote; results not written are left out.
func readResults(decl []v1.TaskResult, dir string) ([]v1.TaskRunResult, error) {
	var out []v1.TaskRunResult
	var errs []error
	for _, r := range decl {
		f, err := os.Open(filepath.Join(dir, r.Name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read result %s: %w", r.Name, err))
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, maxResultSize+1))
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("read result %s: %w", r.Name, err))
			continue
		}
		if len(b) > maxResultSize {
			errs = append(errs, fmt.Errorf("result %s is larger than %d bytes", r.Name, maxResultSize))
			continue
		}
		v, err := resultValue(r.Type, string(b))
		if err != nil {
			errs = append(errs, fmt.Errorf("result %s: %w", r.Name, err))
			continue
		}
		out = append(out, v1.TaskRunResult{Name: r.Name, Type: r.Type, Value: v})
	}
	return out, errors.Join(errs...)
}
