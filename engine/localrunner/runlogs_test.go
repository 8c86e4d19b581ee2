package localrunner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lockedBuffer is written by WriteLogs while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitForOutput(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRetryKeepsEachAttemptsLog(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: retry-logs}
spec:
  pipelineSpec:
    tasks:
    - name: flaky
      retries: 2
      taskSpec:
        steps:
        - {name: s, image: alpine, script: "echo attempt-$(context.task.retry-count); [ $(context.task.retry-count) = 2 ]"}
`)
	wantReason(t, out, "Succeeded")
	o := task(t, out, "flaky")
	attempts := append(append([]TaskOutcome{}, o.Retries...), o)
	if len(attempts) != 3 {
		t.Fatalf("%d attempts, want 3", len(attempts))
	}
	seen := map[string]bool{}
	for i, a := range attempts {
		path := a.Steps[0].LogPath
		if seen[path] {
			t.Errorf("attempt %d wrote over an earlier attempt's log %s", i, path)
		}
		seen[path] = true
		if b, err := os.ReadFile(path); err != nil || string(b) != "attempt-"+string(rune('0'+i))+"\n" {
			t.Errorf("log of attempt %d (%s) = %q, %v", i, path, b, err)
		}
	}
}

const followedRun = `
metadata: {name: follow, annotations: {slipway.dev/executor: local}}
spec:
  pipelineSpec:
    tasks:
    - name: a
      retries: 1
      taskSpec:
        steps:
        - name: s
          image: alpine
          script: |
            echo attempt-$(context.task.retry-count)
            if [ $(context.task.retry-count) = 0 ]; then
              while [ ! -e GATE ]; do sleep 0.05; done
              exit 1
            fi
    - name: b
      runAfter: [a]
      taskSpec:
        steps:
        - {name: s, image: alpine, script: "echo b-out"}
        - {name: t, image: alpine, script: "echo b-second"}
    finally:
    - name: f
      taskSpec: {steps: [{name: s, image: alpine, script: "echo f-out"}]}
`

// TestWriteLogsFollowsALiveRun is `slipway logs RUN -f` on a run as the controller runs it:
// a first attempt streamed while it runs, its retry, later tasks and finally, then the end.
func TestWriteLogsFollowsALiveRun(t *testing.T) {
	k := newCluster(t)
	k.startController(t)
	gate := filepath.Join(t.TempDir(), "gate")
	pr := k.createRun(t, strings.Replace(followedRun, "GATE", gate, 1))

	var out lockedBuffer
	errc := make(chan error, 1)
	go func() { errc <- WriteLogs(t.Context(), k.c, k.ns, pr.Name, k.logRoot, true, &out) }()
	// The first attempt's output arrives while its step still runs.
	waitForOutput(t, &out, "[a : s]\nattempt-0\n")
	touch(t, gate)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("following did not end with the run; so far:\n%s", out.String())
	}
	want := "[a : s]\nattempt-0\n[a : s] retry 1\nattempt-1\n[b : s]\nb-out\n[b : t]\nb-second\n[f : s]\nf-out\n"
	if got := out.String(); got != want {
		t.Errorf("followed:\n%s\nwant:\n%s", got, want)
	}
	var after bytes.Buffer
	if err := WriteLogs(t.Context(), k.c, k.ns, pr.Name, k.logRoot, false, &after); err != nil {
		t.Fatal(err)
	}
	if after.String() != want {
		t.Errorf("logs of the finished run:\n%s\nwant:\n%s", after.String(), want)
	}
}

// listSignal tells when WriteLogs has listed TaskRuns once.
type listSignal struct {
	client.Reader
	once   sync.Once
	listed chan struct{}
}

func (l *listSignal) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := l.Reader.List(ctx, list, opts...)
	l.once.Do(func() { close(l.listed) })
	return err
}

// TestWriteLogsWaitsForATaskRunsFirstStatus lists a TaskRun in the moment between its creation
// and its first status, when its steps are not known yet: its logs must still be written.
func TestWriteLogsWaitsForATaskRunsFirstStatus(t *testing.T) {
	k := newCluster(t)
	pr := k.createRun(t, `
metadata: {name: window}
spec: {pipelineSpec: {tasks: [{name: a, taskSpec: {steps: [{name: s, image: alpine, script: "true"}]}}]}}`)
	tr := &v1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: "window-a", Namespace: k.ns,
			Labels: map[string]string{labelPipelineRun: pr.Name, labelPipelineTask: "a"}},
		Spec: v1.TaskRunSpec{TaskRef: &v1.TaskRef{Name: "elsewhere"}},
	}
	if err := k.c.Create(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	logRoot := t.TempDir()
	reader := &listSignal{Reader: k.c, listed: make(chan struct{})}
	var out lockedBuffer
	errc := make(chan error, 1)
	go func() { errc <- WriteLogs(t.Context(), reader, k.ns, pr.Name, logRoot, true, &out) }()
	<-reader.listed

	ctl := &Controller{client: k.c, opts: Options{}.withDefaults()}
	now := time.Now()
	o := TaskOutcome{PipelineTask: "a", TaskRunName: tr.Name, State: TaskRunning, StartTime: now,
		Spec: &v1.TaskSpec{Steps: []v1.Step{{Name: "s", Image: "alpine", Script: "true"}}}}
	if err := ctl.writeTaskRunStatus(t.Context(), k.ns, tr.Name, TaskRunStatus(o)); err != nil {
		t.Fatal(err)
	}
	if err := writeLog(LogPath(logRoot, k.ns, pr.Name, tr.Name, "s", 0), []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	o.State, o.Reason, o.CompletionTime = TaskSucceeded, "Succeeded", now
	o.Steps = []StepOutcome{{Name: "s", Reason: stepCompleted, StartedAt: now, FinishedAt: now}}
	if err := ctl.writeTaskRunStatus(t.Context(), k.ns, tr.Name, TaskRunStatus(o)); err != nil {
		t.Fatal(err)
	}
	if err := ctl.updatePipelineRun(t.Context(), pr, func(cur *v1.PipelineRun) {
		markDone(&cur.Status, Outcome{Reason: "Succeeded", Succeeded: true, StartTime: now, CompletionTime: now, Tasks: []TaskOutcome{o}}, []string{"a"})
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("following did not end with the run; so far:\n%s", out.String())
	}
	if got := out.String(); got != "[a : s]\nhello\n" {
		t.Errorf("followed %q", got)
	}
}
