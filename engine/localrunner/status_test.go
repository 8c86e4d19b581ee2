package localrunner

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

func TestTaskRunStatusShapes(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name       string
		state      TaskState
		reason     string
		wantStatus corev1.ConditionStatus
		resumable  bool
	}{
		{"running", TaskRunning, "Running", corev1.ConditionUnknown, false},
		{"succeeded", TaskSucceeded, "Succeeded", corev1.ConditionTrue, true},
		{"failed", TaskFailed, "Failed", corev1.ConditionFalse, true},
		{"timeout", TaskTimedOut, "TaskRunTimeout", corev1.ConditionFalse, true},
		{"cancelled", TaskCancelled, "TaskRunCancelled", corev1.ConditionFalse, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := TaskOutcome{PipelineTask: "build", TaskRunName: "run-build", State: tt.state, Reason: tt.reason,
				StartTime: now, CompletionTime: now.Add(time.Second),
				Steps:   []StepOutcome{{Name: "s", ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
				Results: []v1.TaskRunResult{{Name: "digest", Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues("sha256:1")}},
				Retries: []TaskOutcome{{State: TaskFailed, Reason: "Failed"}},
			}
			st := TaskRunStatus(o)
			c := st.GetCondition(apis.ConditionSucceeded)
			if c == nil || c.Status != tt.wantStatus || c.Reason != tt.reason {
				t.Fatalf("condition = %+v", c)
			}
			if (st.CompletionTime != nil) != tt.state.Done() || st.StartTime == nil {
				t.Errorf("times: start %v completion %v", st.StartTime, st.CompletionTime)
			}
			if len(st.Steps) != 1 || st.Steps[0].Terminated == nil || st.Steps[0].Container != "step-s" || len(st.RetriesStatus) != 1 {
				t.Errorf("steps/retries = %+v / %+v", st.Steps, st.RetriesStatus)
			}
			tr := &v1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: "run-build", Labels: map[string]string{labelPipelineTask: "build"}}, Status: st}
			back, ok := outcomeFromTaskRun(tr)
			if ok != tt.resumable {
				t.Fatalf("resumable = %v, want %v", ok, tt.resumable)
			}
			if ok && (back.PipelineTask != "build" || len(back.Results) != 1 || back.Results[0].Value.StringVal != "sha256:1") {
				t.Errorf("read back %+v", back)
			}
		})
	}
}

func TestMarkDone(t *testing.T) {
	var pr v1.PipelineRun
	st := &pr.Status
	now := time.Now()
	markRunning(&pr, "Tasks Completed: 0", now)
	out := Outcome{Reason: "Completed", Succeeded: true, StartTime: now.Add(time.Hour), CompletionTime: now,
		Tasks: []TaskOutcome{
			{PipelineTask: "a", TaskRunName: "r-a", State: TaskSucceeded},
			{PipelineTask: "b", State: TaskSkipped, SkipReason: v1.WhenExpressionsSkip},
		}}
	markDone(st, out, []string{"a", "b"})
	c := st.GetCondition(apis.ConditionSucceeded)
	if c.Status != corev1.ConditionTrue || c.Reason != "Completed" {
		t.Errorf("condition = %+v", c)
	}
	if !st.StartTime.Time.Equal(now) {
		t.Errorf("start time of the first start must be kept")
	}
	if len(st.ChildReferences) != 1 || st.ChildReferences[0].Kind != "TaskRun" || len(st.SkippedTasks) != 1 {
		t.Errorf("children %+v skipped %+v", st.ChildReferences, st.SkippedTasks)
	}
}

func TestImageRepository(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alpine", "docker.io/library/alpine"},
		{"alpine:3.20", "docker.io/library/alpine"},
		{"docker.io/library/alpine@sha256:abc", "docker.io/library/alpine"},
		{"index.docker.io/alpine:1", "docker.io/library/alpine"},
		{"bitnami/kubectl:1.30", "docker.io/bitnami/kubectl"},
		{"localhost:5000/app:v1", "localhost:5000/app"},
		{"gcr.io/kaniko-project/executor:v1.23.0@sha256:abc", "gcr.io/kaniko-project/executor"},
		{"slipway.dev/steps:v0.1.0", "slipway.dev/steps"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ImageRepository(tt.in); got != tt.want {
				t.Errorf("ImageRepository(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestFollowTailsUntilDone(t *testing.T) {
	root := t.TempDir()
	path := LogPath(root, "ns", "pr", "pr-build", "compile", 0)
	if want := filepath.Join(root, "ns", "pr", "pr-build", "compile.log"); path != want {
		t.Fatalf("LogPath = %s", path)
	}
	if got, want := LogPath(root, "ns", "pr", "pr-build", "compile", 2), filepath.Join(root, "ns", "pr", "pr-build", "compile.retry-2.log"); got != want {
		t.Fatalf("LogPath of retry 2 = %s, want %s", got, want)
	}
	var got syncBuffer
	errc := make(chan error, 1)
	go func() { errc <- Follow(t.Context(), path, &got) }() // starts before the log exists
	time.Sleep(150 * time.Millisecond)
	go func() {
		_ = withLog(path, func(w io.Writer) {
			for _, line := range []string{"one\n", "two\n", "three\n"} {
				_, _ = w.Write([]byte(line))
				time.Sleep(120 * time.Millisecond)
			}
		})
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after the step finished")
	}
	if got.b.String() != "one\ntwo\nthree\n" {
		t.Errorf("followed %q", got.b.String())
	}
	if _, err := os.Stat(path + doneSuffix); err != nil {
		t.Errorf("no done marker: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := Follow(ctx, filepath.Join(root, "never.log"), &got); err == nil {
		t.Error("Follow of a log that never appears should end with the context")
	}
}
