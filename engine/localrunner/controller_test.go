package localrunner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// cluster is a test's namespace on the package's API server.
type cluster struct {
	c  client.Client
	ns string
	// logRoot is the log root of the controller started last.
	logRoot string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c, ns := apiServer.Namespace(t)
	return &cluster{c: c, ns: ns}
}

// startController runs a controller for the test's namespace until stop or the test's end.
func (k *cluster) startController(t *testing.T, options ...ControllerOption) (stop func()) {
	t.Helper()
	dir := t.TempDir()
	k.logRoot = filepath.Join(dir, "logs")
	ctl := NewController(k.c, nil, Options{
		WorkRoot: filepath.Join(dir, "work"), LogRoot: filepath.Join(dir, "logs"),
		Steps: &HostSteps{AllowHostSteps: true, Reaper: "/proc/self/exe"},
	}, append([]ControllerOption{WithNamespace(k.ns), WithPollInterval(100 * time.Millisecond)}, options...)...)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctl.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func (k *cluster) createRun(t *testing.T, doc string) *v1.PipelineRun {
	t.Helper()
	pr := &v1.PipelineRun{}
	if err := yaml.UnmarshalStrict([]byte(doc), pr); err != nil {
		t.Fatal(err)
	}
	pr.Namespace = k.ns
	if err := k.c.Create(t.Context(), pr); err != nil {
		t.Fatalf("create pipelinerun: %v", err)
	}
	return pr
}

func (k *cluster) waitFor(t *testing.T, pr *v1.PipelineRun, what string, cond func(*v1.PipelineRun) bool) *v1.PipelineRun {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cur := &v1.PipelineRun{}
		if err := k.c.Get(t.Context(), client.ObjectKeyFromObject(pr), cur); err == nil && cond(cur) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, cur.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *cluster) taskRun(t *testing.T, name string) *v1.TaskRun {
	t.Helper()
	tr := &v1.TaskRun{}
	if err := k.c.Get(t.Context(), client.ObjectKey{Namespace: k.ns, Name: name}, tr); err != nil {
		t.Fatalf("get taskrun %s: %v", name, err)
	}
	return tr
}

func (k *cluster) setSpecStatus(t *testing.T, pr *v1.PipelineRun, status v1.PipelineRunSpecStatus) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"status":"`+string(status)+`"}}`))
	if err := k.c.Patch(t.Context(), pr.DeepCopy(), patch); err != nil {
		t.Fatal(err)
	}
}

func isDone(pr *v1.PipelineRun) bool { return pr.IsDone() }

func reasonIs(reason string) func(*v1.PipelineRun) bool {
	return func(pr *v1.PipelineRun) bool {
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		return c != nil && c.Reason == reason
	}
}

func condition(pr *v1.PipelineRun) *apis.Condition {
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); c != nil {
		return c
	}
	return &apis.Condition{}
}

func taskRunReason(tr *v1.TaskRun) string {
	if c := tr.Status.GetCondition(apis.ConditionSucceeded); c != nil {
		return c.Reason
	}
	return ""
}

func skipReasons(pr *v1.PipelineRun) map[string]v1.SkippingReason {
	out := map[string]v1.SkippingReason{}
	for _, s := range pr.Status.SkippedTasks {
		out[s.Name] = s.Reason
	}
	return out
}

const twoTasks = `
metadata:
  name: %s
  annotations: {slipway.dev/executor: local}
spec:
  pipelineSpec:
    results: [{name: out, value: $(tasks.b.results.out)}]
    tasks:
    - name: a
      taskSpec: {results: [{name: v}], steps: [{name: s, image: alpine, script: "%s"}]}
    - name: b
      params: [{name: v, value: $(tasks.a.results.v)}]
      taskSpec: {params: [{name: v}], results: [{name: out}], steps: [{name: s, image: alpine, script: "%s"}]}
    finally:
    - name: f
      taskSpec: {steps: [{name: s, image: alpine, script: "%s"}]}
`

// fixtureDoc fills twoTasks: the run's name, then the scripts of a, b and f (default "true").
func fixtureDoc(name string, scripts ...string) string {
	r := strings.NewReplacer("%s", "\x00")
	doc := r.Replace(twoTasks)
	for len(scripts) < 3 {
		scripts = append(scripts, "true")
	}
	for _, v := range append([]string{name}, scripts...) {
		doc = strings.Replace(doc, "\x00", v, 1)
	}
	return doc
}

// waitFile is a script that waits until path exists.
func waitFile(path string) string { return "while [ ! -e " + path + " ]; do sleep 0.05; done" }

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestControllerRunsAnnotatedRuns(t *testing.T) {
	k := newCluster(t)
	k.startController(t)
	ignored := k.createRun(t, `
metadata: {name: tekton-owned}
spec: {pipelineSpec: {tasks: [{name: a, taskSpec: {steps: [{image: alpine, script: "true"}]}}]}}`)
	pr := k.createRun(t, fixtureDoc("ok", "printf 42 > $(results.v.path)", "printf got-$(params.v) > $(results.out.path)"))
	done := k.waitFor(t, pr, "pipelinerun to finish", isDone)
	if cond := condition(done); cond.Status != corev1.ConditionTrue || cond.Reason != "Succeeded" {
		t.Fatalf("condition = %+v", cond)
	}
	if len(done.Status.ChildReferences) != 3 || done.Status.StartTime == nil || done.Status.CompletionTime == nil {
		t.Errorf("status = %+v", done.Status)
	}
	if len(done.Status.Results) != 1 || done.Status.Results[0].Value.StringVal != "got-42" {
		t.Errorf("results = %+v", done.Status.Results)
	}
	tr := k.taskRun(t, "ok-b")
	if tr.Labels[labelPipelineRun] != "ok" || tr.Labels[labelPipelineTask] != "b" || !metav1.IsControlledBy(tr, done) {
		t.Errorf("taskrun metadata = %+v", tr.ObjectMeta)
	}
	if taskRunReason(tr) != "Succeeded" || len(tr.Status.Steps) != 1 || tr.Status.Steps[0].Terminated == nil || len(tr.Status.Results) != 1 {
		t.Errorf("taskrun status = %+v", tr.Status)
	}
	cur := &v1.PipelineRun{}
	if err := k.c.Get(t.Context(), client.ObjectKeyFromObject(ignored), cur); err != nil || cur.Status.GetCondition(apis.ConditionSucceeded) != nil {
		t.Errorf("a run without the annotation was touched: %+v", cur.Status)
	}
	if _, ok := done.Annotations[ResumesAnnotation]; ok {
		t.Errorf("a run that was never interrupted counts resumes: %v", done.Annotations)
	}
}

// TestControllerSpecStatus follows Tekton's spec.status values: Cancelled stops everything,
// CancelledRunFinally cancels the running tasks and runs finally, StoppedRunFinally lets the
// running tasks finish and runs finally. Task a runs until the test releases it; finally
// waits for the test too, so the interim reasons can be seen.
func TestControllerSpecStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  v1.PipelineRunSpecStatus
		interim string
		// What task a ended with, how b was skipped, whether finally ran.
		wantA       string
		wantBSkip   v1.SkippingReason
		wantFinally bool
	}{
		{"Cancelled", v1.PipelineRunSpecStatusCancelled, "", "TaskRunCancelled", v1.StoppingSkip, false},
		{"CancelledRunFinally", v1.PipelineRunSpecStatusCancelledRunFinally, "CancelledRunningFinally", "TaskRunCancelled", v1.StoppingSkip, true},
		{"StoppedRunFinally", v1.PipelineRunSpecStatusStoppedRunFinally, "StoppedRunningFinally", "Succeeded", v1.GracefullyStoppedSkip, true},
	}
	k := newCluster(t)
	k.startController(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := strings.ToLower(tt.name)
			pr := k.createRun(t, fixtureDoc(name,
				waitFile(dir+"/release-a")+"; printf 1 > $(results.v.path)", "true",
				waitFile(dir+"/release-f")+"; touch "+dir+"/finally-ran"))
			k.waitFor(t, pr, "task a to start", func(p *v1.PipelineRun) bool { return len(p.Status.ChildReferences) > 0 })
			k.setSpecStatus(t, pr, tt.status)
			if tt.interim != "" {
				k.waitFor(t, pr, "the interim reason "+tt.interim, reasonIs(tt.interim))
			}
			if tt.wantA == "TaskRunCancelled" {
				// Released only once cancelled, a would succeed if the cancel came too late.
				for deadline := time.Now().Add(60 * time.Second); taskRunReason(k.taskRun(t, name+"-a")) != tt.wantA; {
					if time.Now().After(deadline) {
						t.Fatalf("task a was not cancelled: %+v", k.taskRun(t, name+"-a").Status)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			touch(t, dir+"/release-a")
			touch(t, dir+"/release-f")
			done := k.waitFor(t, pr, "the run to end", isDone)
			if c := condition(done); c.Reason != "Cancelled" || c.Status != corev1.ConditionFalse || !strings.Contains(c.Message, "was cancelled") {
				t.Errorf("condition = %+v", c)
			}
			if r := taskRunReason(k.taskRun(t, name+"-a")); r != tt.wantA {
				t.Errorf("task a = %s, want %s", r, tt.wantA)
			}
			if got := skipReasons(done)["b"]; got != tt.wantBSkip {
				t.Errorf("task b skipped with %q, want %q (skipped: %+v)", got, tt.wantBSkip, done.Status.SkippedTasks)
			}
			_, err := os.Stat(dir + "/finally-ran")
			if ran := err == nil; ran != tt.wantFinally {
				t.Errorf("finally ran = %v, want %v", ran, tt.wantFinally)
			}
		})
	}

	t.Run("CancelledRunFinally before the run starts runs finally only", func(t *testing.T) {
		doc := strings.Replace(fixtureDoc("cancelled-early", "exit 1", "exit 1"), "spec:\n", "spec:\n  status: CancelledRunFinally\n", 1)
		done := k.waitFor(t, k.createRun(t, doc), "the run to end", isDone)
		if c := condition(done); c.Reason != "Cancelled" {
			t.Errorf("condition = %+v", c)
		}
		if got := skipReasons(done); got["a"] != v1.GracefullyCancelledSkip || got["b"] != v1.GracefullyCancelledSkip || len(got) != 2 {
			t.Errorf("skipped = %+v", done.Status.SkippedTasks)
		}
		if r := taskRunReason(k.taskRun(t, "cancelled-early-f")); r != "Succeeded" {
			t.Errorf("finally = %s", r)
		}
	})
}

// markInterrupted leaves pr as a runner that died leaves it: Running, task a Succeeded with
// result v=7, task b Running.
func (k *cluster) markInterrupted(t *testing.T, pr *v1.PipelineRun, now time.Time) {
	t.Helper()
	ctl := &Controller{client: k.c, opts: Options{}.withDefaults()}
	if err := ctl.updatePipelineRun(t.Context(), pr, func(cur *v1.PipelineRun) { markRunning(cur, "running", now) }); err != nil {
		t.Fatal(err)
	}
	obs := &runObserver{c: ctl, log: ctl.opts.Logger, runCtx: t.Context(), pr: pr, pipeline: pr.Name, order: []string{"a", "b", "f"}, tasks: map[string]TaskOutcome{}}
	obs.TaskUpdate(t.Context(), TaskOutcome{PipelineTask: "a", TaskRunName: pr.Name + "-a", State: TaskSucceeded, Reason: "Succeeded",
		StartTime: now, CompletionTime: now,
		Results: []v1.TaskRunResult{{Name: "v", Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues("7")}}})
	obs.TaskUpdate(t.Context(), TaskOutcome{PipelineTask: "b", TaskRunName: pr.Name + "-b", State: TaskRunning, Reason: "Running", StartTime: now})
}

func TestControllerResumes(t *testing.T) {
	k := newCluster(t)

	t.Run("after a crash, without re-running succeeded tasks", func(t *testing.T) {
		// Task a's script fails if it runs again.
		pr := k.createRun(t, fixtureDoc("resume", "exit 1", "printf again-$(params.v) > $(results.out.path)"))
		now := time.Now()
		k.markInterrupted(t, pr, now)
		k.startController(t)
		done := k.waitFor(t, pr, "resumed pipelinerun to finish", isDone)
		if cond := condition(done); cond.Reason != "Succeeded" {
			t.Fatalf("condition = %+v", cond)
		}
		if len(done.Status.Results) != 1 || done.Status.Results[0].Value.StringVal != "again-7" {
			t.Errorf("results = %+v", done.Status.Results)
		}
		if a := k.taskRun(t, "resume-a"); len(a.Status.Steps) != 0 {
			t.Errorf("succeeded task a was run again: %+v", a.Status.Steps)
		}
		if r := taskRunReason(k.taskRun(t, "resume-b")); r != "Succeeded" {
			t.Errorf("task b = %s", r)
		}
		if done.Status.StartTime == nil || !done.Status.StartTime.Time.Equal(now.Truncate(time.Second)) {
			t.Errorf("start time not kept across the restart: %v vs %v", done.Status.StartTime, now)
		}
		if n := done.Annotations[ResumesAnnotation]; n != "1" {
			t.Errorf("resumes = %q, want 1", n)
		}
	})

	t.Run("not after too many crashes", func(t *testing.T) {
		dir := t.TempDir()
		doc := strings.Replace(fixtureDoc("crashloop", "exit 1", "touch "+dir+"/b-ran"), "annotations: {", "annotations: {slipway.dev/resumes: \"3\", ", 1)
		pr := k.createRun(t, doc)
		k.markInterrupted(t, pr, time.Now())
		k.startController(t)
		done := k.waitFor(t, pr, "the run to be failed", isDone)
		c := condition(done)
		if c.Reason != ReasonResumeLimit || c.Status != corev1.ConditionFalse ||
			!strings.Contains(c.Message, "died while running it 4 times") || !strings.Contains(c.Message, "tasks [b]") {
			t.Errorf("condition = %+v", c)
		}
		if r := taskRunReason(k.taskRun(t, "crashloop-b")); r != "TaskRunCancelled" {
			t.Errorf("the interrupted task b = %s, want it cancelled", r)
		}
		if _, err := os.Stat(dir + "/b-ran"); err == nil {
			t.Error("task b ran again")
		}
		if n := done.Annotations[ResumesAnnotation]; n != "4" {
			t.Errorf("resumes = %q, want 4", n)
		}
	})

	t.Run("after a clean shutdown, without counting a crash", func(t *testing.T) {
		dir := t.TempDir()
		stop := k.startController(t)
		pr := k.createRun(t, fixtureDoc("shutdown", waitFile(dir+"/release")+"; printf 1 > $(results.v.path)"))
		k.waitFor(t, pr, "task a to start", func(p *v1.PipelineRun) bool { return len(p.Status.ChildReferences) > 0 })
		stop()
		left := k.waitFor(t, pr, "the shutdown to be recorded", func(p *v1.PipelineRun) bool { return p.Annotations[StoppedAnnotation] != "" })
		if c := condition(left); c.Reason != "Running" {
			t.Errorf("a run stopped by a shutdown must stay Running: %+v", c)
		}
		k.startController(t)
		k.waitFor(t, pr, "the resume to clear the mark", func(p *v1.PipelineRun) bool { return p.Annotations[StoppedAnnotation] == "" })
		touch(t, dir+"/release")
		done := k.waitFor(t, pr, "the run to end", isDone)
		if c := condition(done); c.Reason != "Succeeded" {
			t.Errorf("condition = %+v", c)
		}
		if n, ok := done.Annotations[ResumesAnnotation]; ok {
			t.Errorf("a clean shutdown counted as a crash: resumes = %q", n)
		}
	})
}

// TestRunThatKillsItsRunnerIsNotResumedForever runs a pipeline whose step SIGKILLs the runner
// (a separate process) every time, restarting the runner after each death, as a process manager of
// `slipway dev` would. The run must end failed after WithMaxResumes resumes (3 by default).
func TestRunThatKillsItsRunnerIsNotResumedForever(t *testing.T) {
	k := newCluster(t)
	hc := helperConfig{Kubeconfig: writeKubeconfig(t, apiServer.Config(t)), Namespace: k.ns, Dir: t.TempDir()}
	// The step's parent is the runner itself.
	pr := k.createRun(t, fixtureDoc("killer", "kill -KILL $PPID; sleep 60"))
	deaths := 0
	for starts := 1; ; starts++ {
		if starts > 6 {
			t.Fatalf("the runner was started %d times and the run has not ended", starts-1)
		}
		runner := startHelper(t, hc)
		exited := make(chan error, 1)
		go func() { exited <- runner.Wait() }()
		ended := false
		for deadline := time.Now().Add(60 * time.Second); ; {
			select {
			case err := <-exited:
				if ws, ok := runner.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
					t.Fatalf("runner %d exited without being killed: %v", starts, err)
				}
				deaths++
			case <-time.After(100 * time.Millisecond):
				cur := &v1.PipelineRun{}
				if err := k.c.Get(t.Context(), client.ObjectKeyFromObject(pr), cur); err == nil && cur.IsDone() {
					ended = true
					_ = runner.Process.Kill()
					<-exited
				} else if time.Now().After(deadline) {
					t.Fatalf("runner %d neither died nor ended the run", starts)
				} else {
					continue
				}
			}
			break
		}
		if ended {
			break
		}
	}
	done := k.waitFor(t, pr, "the run to have ended", isDone)
	if c := condition(done); c.Reason != ReasonResumeLimit || !strings.Contains(c.Message, "4 times") {
		t.Errorf("condition = %+v", c)
	}
	if deaths != 4 || done.Annotations[ResumesAnnotation] != "4" {
		t.Errorf("the runner died %d times, resumes = %q; want 4 and 4", deaths, done.Annotations[ResumesAnnotation])
	}
}
