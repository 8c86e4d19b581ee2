// Package localrunner executes Tekton PipelineRuns on the host with Tekton's semantics.
package localrunner

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
)

// Run is one PipelineRun with everything it references already resolved.
type Run struct {
	// PipelineRun is the run as stored in the API server (or built by a test).
	PipelineRun *v1.PipelineRun
	// Pipeline is the resolved pipeline spec (from pipelineRef or pipelineSpec).
	Pipeline *v1.PipelineSpec
	// Tasks maps a pipeline task name (tasks and finally) to its resolved task spec.
	Tasks map[string]*v1.TaskSpec
}

// Resolver looks up the Pipelines and Tasks that a PipelineRun references by name.
type Resolver interface {
	Pipeline(ctx context.Context, ref *v1.PipelineRef) (*v1.PipelineSpec, error)
	Task(ctx context.Context, ref *v1.TaskRef) (*v1.TaskSpec, error)
}

// Resolve builds a Run from pr, taking inline pipelineSpec/taskSpec as they are and asking r
// for everything referenced. r may be nil when everything is inline.
func Resolve(ctx context.Context, r Resolver, pr *v1.PipelineRun) (Run, error) {
	run := Run{PipelineRun: pr, Tasks: map[string]*v1.TaskSpec{}}
	switch {
	case pr.Spec.PipelineSpec != nil:
		run.Pipeline = pr.Spec.PipelineSpec.DeepCopy()
	case pr.Spec.PipelineRef != nil && r != nil:
		ps, err := r.Pipeline(ctx, pr.Spec.PipelineRef)
		if err != nil {
			return run, &ResolveError{Reason: v1.PipelineRunReasonCouldntGetPipeline, Err: fmt.Errorf("resolve pipeline %q: %w", pr.Spec.PipelineRef.Name, err)}
		}
		run.Pipeline = ps.DeepCopy()
	default:
		return run, &ResolveError{Reason: v1.PipelineRunReasonCouldntGetPipeline, Err: fmt.Errorf("pipelinerun %s has neither pipelineSpec nor a resolvable pipelineRef", pr.Name)}
	}
	all := append(append([]v1.PipelineTask{}, run.Pipeline.Tasks...), run.Pipeline.Finally...)
	for _, pt := range all {
		switch {
		case pt.TaskSpec != nil:
			run.Tasks[pt.Name] = pt.TaskSpec.TaskSpec.DeepCopy()
		case pt.TaskRef != nil && r != nil:
			ts, err := r.Task(ctx, pt.TaskRef)
			if err != nil {
				return run, &ResolveError{Reason: v1.PipelineRunReasonCouldntGetTask, Err: fmt.Errorf("resolve task %q for pipeline task %q: %w", pt.TaskRef.Name, pt.Name, err)}
			}
			run.Tasks[pt.Name] = ts.DeepCopy()
		default:
			return run, &ResolveError{Reason: v1.PipelineRunReasonCouldntGetTask, Err: fmt.Errorf("pipeline task %q has neither taskSpec nor a resolvable taskRef", pt.Name)}
		}
	}
	return run, nil
}

// ResolveError is returned by Resolve; Reason is the Tekton PipelineRun reason to report.
type ResolveError struct {
	Reason v1.PipelineRunReason
	Err    error
}

func (e *ResolveError) Error() string { return e.Err.Error() }
func (e *ResolveError) Unwrap() error { return e.Err }

// Observer is told about every change of a task's state while a run executes: once when a
// TaskRun attempt starts (State Running), once when it ends, and once for each skipped task.
// Calls come from several goroutines; an Observer must be safe for concurrent use.
type Observer interface {
	TaskUpdate(ctx context.Context, t TaskOutcome)
}

// EnvSource resolves a step's env valueFrom (Secret or ConfigMap keys). Without one, a step
// using valueFrom fails with a clear message.
type EnvSource interface {
	EnvValue(ctx context.Context, namespace string, src *corev1.EnvVarSource) (string, error)
}

// VolumeSource reads the Secrets and ConfigMaps that workspaces are bound to. Without one, a
// PipelineRun binding a workspace to a Secret or ConfigMap fails with a clear message.
type VolumeSource interface {
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
	ConfigMapData(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// TokenSource issues the ServiceAccount tokens that projected workspaces ask for, as the
// kubelet requests them for a pod. Without one, a PipelineRun projecting a token fails with a
// clear message.
type TokenSource interface {
	ServiceAccountToken(ctx context.Context, namespace, serviceAccount string, p corev1.ServiceAccountTokenProjection) ([]byte, error)
}

// Options configure Execute. Zero values take the defaults set in withDefaults.
type Options struct {
	// WorkRoot holds workspaces and per-TaskRun directories: <WorkRoot>/<ns>/<pipelinerun>/.
	WorkRoot string
	// VolumeRoot holds the directories that back persistentVolumeClaim workspace bindings:
	// <VolumeRoot>/<namespace>/<claim>. Empty means every binding gets a per-run directory.
	VolumeRoot string
	// LogRoot holds step logs, laid out as LogPath describes.
	LogRoot string
	// Steps runs each step. Required.
	Steps StepRunner
	// MaxParallel bounds the tasks of this run executing at once (default: number of CPUs, min 2).
	MaxParallel int
	// Observer, when set, is told about task state changes (the controller writes TaskRuns).
	Observer Observer
	// Env resolves env valueFrom references; optional.
	Env EnvSource
	// Volumes fills workspaces bound to Secrets and ConfigMaps, plain or projected; optional.
	Volumes VolumeSource
	// Tokens issues the ServiceAccount tokens of projected workspaces; optional.
	Tokens TokenSource
	// Previous holds outcomes of tasks finished before a restart; finished ones (Succeeded,
	// Failed, Cancelled) are reused as they are and not run again.
	Previous map[string]TaskOutcome
	// SpecStatus, when set, delivers later changes of the PipelineRun's spec.status while the
	// run executes, for Tekton's graceful ends: CancelledRunFinally cancels the running tasks,
	// skips the rest and runs finally; StoppedRunFinally starts no new tasks, lets the running
	// ones finish and runs finally. The spec.status the run starts with counts too. A hard
	// Cancelled is the cancellation of Execute's context.
	SpecStatus <-chan v1.PipelineRunSpecStatus
	// Logger is scoped to the run by Execute; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxParallel <= 0 {
		o.MaxParallel = max(runtime.NumCPU(), 2)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// TaskState is where a pipeline task stands.
type TaskState string

// Task states. Running is only ever reported to an Observer.
const (
	TaskRunning   TaskState = "Running"
	TaskSucceeded TaskState = "Succeeded"
	TaskFailed    TaskState = "Failed"
	TaskTimedOut  TaskState = "TimedOut"
	TaskCancelled TaskState = "Cancelled"
	TaskSkipped   TaskState = "Skipped"
)

// Done reports whether the state is final.
func (s TaskState) Done() bool { return s != TaskRunning && s != "" }

// TaskOutcome is the state of one pipeline task, shaped so that a Tekton TaskRun status can be
// built from it (see TaskRunStatus).
type TaskOutcome struct {
	PipelineTask string
	TaskRunName  string
	Finally      bool
	State        TaskState
	// Reason is the Tekton TaskRun reason (Running, Succeeded, Failed, TaskRunTimeout, TaskRunCancelled).
	Reason  string
	Message string
	// SkipReason and When are set for skipped tasks.
	SkipReason v1.SkippingReason
	When       v1.WhenExpressions
	// Params are the task's params after pipeline-level substitution; Spec is the task spec
	// after task-level substitution (nil for skipped tasks).
	Params  v1.Params
	Spec    *v1.TaskSpec
	Results []v1.TaskRunResult
	Steps   []StepOutcome
	// Attempt counts from 0; Retries holds the outcomes of earlier failed attempts.
	Attempt        int
	Retries        []TaskOutcome
	StartTime      time.Time
	CompletionTime time.Time
}

// StepOutcome is how one step ended.
type StepOutcome struct {
	Name     string
	ExitCode int32
	// Reason is the terminated reason: Completed, Error, TimeoutExceeded, Skipped, Cancelled.
	Reason     string
	Message    string
	StartedAt  time.Time
	FinishedAt time.Time
	LogPath    string
}

// Outcome is how a PipelineRun ended.
type Outcome struct {
	// Reason is the Tekton PipelineRun reason: Succeeded, Completed, Failed, PipelineRunTimeout,
	// Cancelled, or a validation/resolution reason.
	Reason         string
	Message        string
	Succeeded      bool
	StartTime      time.Time
	CompletionTime time.Time
	// Tasks holds every pipeline task in spec order, tasks first then finally.
	Tasks        []TaskOutcome
	Results      []v1.PipelineRunResult
	SkippedTasks []v1.SkippedTask
}
