package localrunner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// startWatcher tells, once, that a pipeline task has started.
type startWatcher struct {
	task    string
	started chan struct{}
}

func (w *startWatcher) TaskUpdate(_ context.Context, o TaskOutcome) {
	if o.PipelineTask == w.task && o.State == TaskRunning && o.Attempt == 0 {
		close(w.started)
	}
}

// TestGracefulEnds follows Tekton's graceful spec.status values. Task a runs until the test
// releases it; c is a candidate waiting for the one slot a holds; b runs after a; finally
// reports a's status.
func TestGracefulEnds(t *testing.T) {
	tests := []struct {
		name       string
		status     v1.PipelineRunSpecStatus
		aExit      string
		wantReason string
		wantA      TaskState
		wantSkip   map[string]v1.SkippingReason
		wantSeen   string
	}{
		{"CancelledRunFinally cancels the running task, skips the rest, runs finally",
			v1.PipelineRunSpecStatusCancelledRunFinally, "0", "Cancelled", TaskCancelled,
			map[string]v1.SkippingReason{"c": v1.GracefullyCancelledSkip, "b": v1.StoppingSkip}, "Failed"},
		{"StoppedRunFinally lets the running task finish, skips the rest, runs finally",
			v1.PipelineRunSpecStatusStoppedRunFinally, "0", "Cancelled", TaskSucceeded,
			map[string]v1.SkippingReason{"c": v1.GracefullyStoppedSkip, "b": v1.GracefullyStoppedSkip}, "Succeeded"},
		{"a task failing during a graceful stop fails the run",
			v1.PipelineRunSpecStatusStoppedRunFinally, "3", "Failed", TaskFailed,
			map[string]v1.SkippingReason{"c": v1.GracefullyStoppedSkip, "b": v1.StoppingSkip}, "Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			release := filepath.Join(t.TempDir(), "release")
			watch := &startWatcher{task: "a", started: make(chan struct{})}
			signals := make(chan v1.PipelineRunSpecStatus, 1)
			f.opts.Observer, f.opts.SpecStatus, f.opts.MaxParallel = watch, signals, 1
			go func() {
				select {
				case <-watch.started:
					signals <- tt.status
					_ = os.WriteFile(release, nil, 0o644)
				case <-time.After(30 * time.Second):
				}
			}()
			out := f.execute(t, t.Context(), `
metadata: {name: graceful}
spec:
  pipelineSpec:
    tasks:
    - name: a
      taskSpec: {steps: [{image: alpine, script: "`+waitFile(release)+`; exit `+tt.aExit+`"}]}
    - name: c
      taskSpec: {steps: [{image: alpine, script: "true"}]}
    - name: b
      runAfter: [a]
      taskSpec: {steps: [{image: alpine, script: "true"}]}
    finally:
    - name: report
      params: [{name: a, value: $(tasks.a.status)}]
      taskSpec:
        params: [{name: a}]
        results: [{name: seen}]
        steps: [{image: alpine, script: "printf $(params.a) > $(results.seen.path)"}]
`)
			wantReason(t, out, tt.wantReason)
			if a := task(t, out, "a"); a.State != tt.wantA {
				t.Errorf("a = %s (%s), want %s", a.State, a.Message, tt.wantA)
			}
			for name, want := range tt.wantSkip {
				if o := task(t, out, name); o.State != TaskSkipped || o.SkipReason != want {
					t.Errorf("%s = %s %q, want skipped with %q", name, o.State, o.SkipReason, want)
				}
			}
			if got := result(t, task(t, out, "report"), "seen"); got != tt.wantSeen {
				t.Errorf("finally saw a = %q, want %q", got, tt.wantSeen)
			}
		})
	}
}

// TestGracefulStopKeepsRetrying lets a task that is running when the run is stopped use its
// retries, as a Tekton TaskRun does.
func TestGracefulStopKeepsRetrying(t *testing.T) {
	f := newFixture(t)
	signals := make(chan v1.PipelineRunSpecStatus, 1)
	signals <- v1.PipelineRunSpecStatusStoppedRunFinally
	f.opts.SpecStatus = signals
	dir := t.TempDir()
	out := f.execute(t, t.Context(), `
metadata: {name: stop-retry}
spec:
  pipelineSpec:
    tasks:
    - name: flaky
      retries: 1
      taskSpec:
        steps:
        - image: alpine
          script: "sleep 0.2; [ -e `+dir+`/failed ] || { touch `+dir+`/failed; exit 1; }"
    - name: later
      runAfter: [flaky]
      taskSpec: {steps: [{image: alpine, script: "true"}]}
`)
	wantReason(t, out, "Cancelled")
	if o := task(t, out, "flaky"); o.State != TaskSucceeded || len(o.Retries) != 1 {
		t.Errorf("flaky = %s after %d retries, want Succeeded after 1", o.State, len(o.Retries))
	}
	if o := task(t, out, "later"); o.SkipReason != v1.GracefullyStoppedSkip {
		t.Errorf("later = %s %q", o.State, o.SkipReason)
	}
}
