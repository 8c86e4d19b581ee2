package localrunner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// parseRun turns an inline PipelineRun fixture into a resolved Run.
func parseRun(t *testing.T, doc string) Run {
	t.Helper()
	pr := &v1.PipelineRun{}
	if err := yaml.UnmarshalStrict([]byte(doc), pr); err != nil {
		t.Fatalf("parse fixture: %v", err)
	}
	if pr.Namespace == "" {
		pr.Namespace = "default"
	}
	run, err := Resolve(t.Context(), nil, pr)
	if err != nil {
		t.Fatalf("resolve fixture: %v", err)
	}
	return run
}

type fixture struct {
	opts Options
	dir  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	return &fixture{dir: dir, opts: Options{
		WorkRoot: filepath.Join(dir, "work"),
		LogRoot:  filepath.Join(dir, "logs"),
		Steps:    &HostSteps{AllowHostSteps: true, Reaper: "/proc/self/exe"},
	}}
}

func (f *fixture) execute(t *testing.T, ctx context.Context, doc string) Outcome {
	t.Helper()
	return Execute(ctx, parseRun(t, doc), f.opts)
}

func task(t *testing.T, out Outcome, name string) TaskOutcome {
	t.Helper()
	for _, o := range out.Tasks {
		if o.PipelineTask == name {
			return o
		}
	}
	t.Fatalf("no outcome for task %q in %+v", name, out)
	return TaskOutcome{}
}

func result(t *testing.T, o TaskOutcome, name string) string {
	t.Helper()
	for _, r := range o.Results {
		if r.Name == name {
			return r.Value.StringVal
		}
	}
	t.Fatalf("task %s has no result %q (state %s: %s)", o.PipelineTask, name, o.State, o.Message)
	return ""
}

func wantReason(t *testing.T, out Outcome, reason string) {
	t.Helper()
	if out.Reason != reason {
		t.Fatalf("reason = %s (%s), want %s; tasks: %+v", out.Reason, out.Message, reason, out.Tasks)
	}
}

func TestParamsAndDefaults(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: params}
spec:
  params: [{name: who, value: world}]
  pipelineSpec:
    params:
    - {name: who}
    - {name: greeting, default: hello}
    - {name: list, type: array, default: [a, b]}
    results:
    - {name: said, value: $(tasks.say.results.said)}
    tasks:
    - name: say
      params:
      - {name: text, value: "$(params.greeting) $(params.who)"}
      - {name: items, value: ["$(params.list[*])"]}
      taskSpec:
        params:
        - {name: text}
        - {name: suffix, default: "!"}
        - {name: items, type: array}
        results: [{name: said}, {name: ctx}]
        steps:
        - name: say
          image: alpine
          args: ["$(params.items[*])"]
          script: |
            printf '%s%s %s' "$(params.text)" "$(params.suffix)" "$*" > $(results.said.path)
            printf '%s/%s' "$(context.pipelineRun.name)" "$(context.taskRun.name)" > $(results.ctx.path)
`)
	wantReason(t, out, "Succeeded")
	say := task(t, out, "say")
	if got := result(t, say, "said"); got != "hello world! a b" {
		t.Errorf("said = %q", got)
	}
	if got := result(t, say, "ctx"); got != "params/params-say" {
		t.Errorf("ctx = %q", got)
	}
	if len(out.Results) != 1 || out.Results[0].Value.StringVal != "hello world! a b" {
		t.Errorf("pipeline results = %+v", out.Results)
	}
}

func TestMissingParamFailsRun(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: missing}
spec:
  pipelineSpec:
    params: [{name: who}]
    tasks:
    - name: a
      taskSpec: {steps: [{image: alpine, script: "true"}]}
`)
	wantReason(t, out, "ParameterMissing")
}

func TestResultsBetweenTasksAndWorkspaces(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: results}
spec:
  workspaces: [{name: shared, emptyDir: {}}]
  pipelineSpec:
    workspaces: [{name: shared}]
    tasks:
    - name: produce
      workspaces: [{name: src, workspace: shared}]
      taskSpec:
        workspaces: [{name: src}]
        results: [{name: sha}, {name: files, type: array}]
        steps:
        - image: alpine
          script: |
            echo content > $(workspaces.src.path)/file.txt
            printf abc123 > $(results.sha.path)
            printf '["x","y"]' > $(results.files.path)
    - name: consume
      params:
      - {name: sha, value: "$(tasks.produce.results.sha)"}
      - {name: second, value: "$(tasks.produce.results.files[1])"}
      workspaces: [{name: src, workspace: shared}]
      taskSpec:
        params: [{name: sha}, {name: second}]
        workspaces: [{name: src}]
        results: [{name: seen}]
        steps:
        - image: alpine
          script: |
            printf '%s-%s-%s-%s' "$(params.sha)" "$(params.second)" "$(cat file.txt)" "$(workspaces.src.bound)" > $(results.seen.path)
`)
	wantReason(t, out, "Succeeded")
	if got := result(t, task(t, out, "consume"), "seen"); got != "abc123-y-content-true" {
		t.Errorf("seen = %q", got)
	}
}

func TestWhenSkipsOnlyGuardedTask(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: when}
spec:
  params: [{name: env, value: dev}]
  pipelineSpec:
    params: [{name: env}]
    tasks:
    - name: deploy-prod
      when: [{input: $(params.env), operator: in, values: [prod]}]
      taskSpec: {results: [{name: r}], steps: [{image: alpine, script: "printf x > $(results.r.path)"}]}
    - name: deploy-dev
      when: [{input: $(params.env), operator: notin, values: [prod]}]
      runAfter: [deploy-prod]
      taskSpec: {steps: [{image: alpine, script: "true"}]}
    - name: needs-prod-result
      params: [{name: r, value: $(tasks.deploy-prod.results.r)}]
      taskSpec: {params: [{name: r}], steps: [{image: alpine, script: "true"}]}
`)
	wantReason(t, out, "Completed")
	if o := task(t, out, "deploy-dev"); o.State != TaskSucceeded {
		t.Errorf("deploy-dev = %s, want Succeeded (when scope is the task)", o.State)
	}
	skipped := map[string]v1.SkippingReason{}
	for _, s := range out.SkippedTasks {
		skipped[s.Name] = s.Reason
	}
	if skipped["deploy-prod"] != v1.WhenExpressionsSkip || skipped["needs-prod-result"] != v1.MissingResultsSkip || len(skipped) != 2 {
		t.Errorf("skippedTasks = %+v", out.SkippedTasks)
	}
	if len(out.SkippedTasks[0].WhenExpressions) != 1 || out.SkippedTasks[0].WhenExpressions[0].Input != "dev" {
		t.Errorf("skipped when expressions not substituted: %+v", out.SkippedTasks[0].WhenExpressions)
	}
}

func TestFailureThenFinallySeesIt(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: finally}
spec:
  pipelineSpec:
    tasks:
    - name: ok
      taskSpec: {steps: [{image: alpine, script: "true"}]}
    - name: bad
      taskSpec:
        steps:
        - {name: fail, image: alpine, script: "echo boom >&2; exit 3"}
        - {name: never, image: alpine, script: "true"}
    - name: after-bad
      runAfter: [bad]
      taskSpec: {steps: [{image: alpine, script: "true"}]}
    finally:
    - name: report
      params:
      - {name: overall, value: $(tasks.status)}
      - {name: bad, value: $(tasks.bad.status)}
      - {name: ok, value: $(tasks.ok.status)}
      - {name: after, value: $(tasks.after-bad.status)}
      taskSpec:
        params: [{name: overall}, {name: bad}, {name: ok}, {name: after}]
        results: [{name: seen}]
        steps:
        - image: alpine
          script: printf '%s %s %s %s' $(params.overall) $(params.bad) $(params.ok) $(params.after) > $(results.seen.path)
`)
	wantReason(t, out, "Failed")
	bad := task(t, out, "bad")
	if bad.State != TaskFailed || !strings.Contains(bad.Message, `"step-fail" exited with code 3`) {
		t.Errorf("bad = %s %q", bad.State, bad.Message)
	}
	if len(bad.Steps) != 2 || bad.Steps[1].Reason != stepSkipped {
		t.Errorf("steps after the failure should be skipped: %+v", bad.Steps)
	}
	if log, _ := os.ReadFile(bad.Steps[0].LogPath); string(log) != "boom\n" {
		t.Errorf("log of failing step = %q", log)
	}
	if o := task(t, out, "after-bad"); o.State != TaskSkipped || o.SkipReason != v1.StoppingSkip {
		t.Errorf("after-bad = %s %s", o.State, o.SkipReason)
	}
	if got := result(t, task(t, out, "report"), "seen"); got != "Failed Failed Succeeded None" {
		t.Errorf("finally saw %q", got)
	}
}

func TestTaskTimeout(t *testing.T) {
	f := newFixture(t)
	start := time.Now()
	out := f.execute(t, t.Context(), `
metadata: {name: timeout}
spec:
  pipelineSpec:
    tasks:
    - name: slow
      timeout: 500ms
      taskSpec: {steps: [{image: alpine, script: "sleep 30 & sleep 30; wait"}]}
`)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s; the step's process group was not killed", d)
	}
	wantReason(t, out, "Failed")
	if o := task(t, out, "slow"); o.State != TaskTimedOut || o.Reason != "TaskRunTimeout" {
		t.Errorf("slow = %s %s", o.State, o.Reason)
	}
}

func TestPipelineTimeoutStillRunsFinallyWithinBudget(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: ptimeout}
spec:
  timeouts: {pipeline: 10s, tasks: 500ms}
  pipelineSpec:
    tasks:
    - name: slow
      taskSpec: {steps: [{image: alpine, script: "sleep 30"}]}
    - name: later
      runAfter: [slow]
      taskSpec: {steps: [{image: alpine, script: "true"}]}
    finally:
    - name: cleanup
      taskSpec: {steps: [{image: alpine, script: "true"}]}
`)
	wantReason(t, out, "PipelineRunTimeout")
	if o := task(t, out, "slow"); o.State != TaskCancelled {
		t.Errorf("slow = %s", o.State)
	}
	if o := task(t, out, "later"); o.SkipReason != v1.TasksTimedOutSkip && o.SkipReason != v1.StoppingSkip {
		t.Errorf("later = %s %s", o.State, o.SkipReason)
	}
	if o := task(t, out, "cleanup"); o.State != TaskSucceeded {
		t.Errorf("finally after tasks timeout = %s", o.State)
	}
}

func TestCancelViaContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	out := f.execute(t, ctx, `
metadata: {name: cancel}
spec:
  pipelineSpec:
    tasks:
    - name: slow
      taskSpec: {steps: [{image: alpine, script: "sleep 30"}]}
    finally:
    - name: cleanup
      taskSpec: {steps: [{image: alpine, script: "true"}]}
`)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %s", d)
	}
	wantReason(t, out, "Cancelled")
	if o := task(t, out, "slow"); o.State != TaskCancelled || o.Reason != "TaskRunCancelled" {
		t.Errorf("slow = %s %s", o.State, o.Reason)
	}
	if o := task(t, out, "cleanup"); o.State != TaskSkipped {
		t.Errorf("finally must not run after a cancel, got %s", o.State)
	}
}

func TestRetrySucceedsOnSecondAttempt(t *testing.T) {
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: retry}
spec:
  workspaces: [{name: ws, emptyDir: {}}]
  pipelineSpec:
    workspaces: [{name: ws}]
    tasks:
    - name: flaky
      retries: 2
      workspaces: [{name: ws}]
      taskSpec:
        workspaces: [{name: ws}]
        results: [{name: attempt}]
        steps:
        - image: alpine
          script: |
            printf '$(context.task.retry-count)/$(context.pipelineTask.retries)' > $(results.attempt.path)
            if [ ! -f $(workspaces.ws.path)/marker ]; then touch $(workspaces.ws.path)/marker; exit 1; fi
`)
	wantReason(t, out, "Succeeded")
	o := task(t, out, "flaky")
	if len(o.Retries) != 1 || o.Retries[0].State != TaskFailed || o.Attempt != 1 {
		t.Errorf("attempt %d, retries %+v", o.Attempt, o.Retries)
	}
	if got := result(t, o, "attempt"); got != "1/2" {
		t.Errorf("attempt result = %q", got)
	}
}

func TestSlipwayStepsImageRunsConfiguredBinary(t *testing.T) {
	f := newFixture(t)
	f.opts.Steps = &HostSteps{SlipwayBinary: "/bin/echo"}
	out := f.execute(t, t.Context(), `
metadata: {name: own}
spec:
  pipelineSpec:
    tasks:
    - name: render
      taskSpec: {steps: [{name: s, image: "slipway.dev/steps:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000", command: [slipway, render], args: [--app, demo]}]}
`)
	wantReason(t, out, "Succeeded")
	log, err := os.ReadFile(task(t, out, "render").Steps[0].LogPath)
	if err != nil || string(log) != "render --app demo\n" {
		t.Errorf("log = %q, %v", log, err)
	}
}

func TestStepDoesNotInheritRunnerEnv(t *testing.T) {
	t.Setenv("SLIPWAY_SECRET_TEST", "x")
	f := newFixture(t)
	out := f.execute(t, t.Context(), `
metadata: {name: env}
spec:
  pipelineSpec:
    tasks:
    - name: env
      taskSpec:
        results: [{name: env}]
        steps:
        - image: alpine
          env: [{name: FROM_STEP, value: "$(context.task.name)"}]
          script: env > $(results.env.path)
`)
	wantReason(t, out, "Succeeded")
	env := result(t, task(t, out, "env"), "env")
	if strings.Contains(env, "SLIPWAY_SECRET_TEST") {
		t.Errorf("step saw the runner's environment:\n%s", env)
	}
	if !strings.Contains(env, "FROM_STEP=env\n") || !strings.Contains(env, "HOME="+f.opts.WorkRoot) {
		t.Errorf("step env lacks its own variables or private HOME:\n%s", env)
	}
}

type recorder struct {
	mu      sync.Mutex
	updates []TaskOutcome
}

func (r *recorder) TaskUpdate(_ context.Context, o TaskOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, o)
}

func TestResumeReusesSucceededTasks(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	f.opts.Observer = rec
	f.opts.Previous = map[string]TaskOutcome{"build": {
		PipelineTask: "build", TaskRunName: "resume-build", State: TaskSucceeded,
		Results: []v1.TaskRunResult{{Name: "digest", Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues("sha256:1")}},
	}}
	out := f.execute(t, t.Context(), `
metadata: {name: resume}
spec:
  pipelineSpec:
    tasks:
    - name: build
      taskSpec: {results: [{name: digest}], steps: [{image: alpine, script: "exit 1"}]}
    - name: deploy
      params: [{name: d, value: $(tasks.build.results.digest)}]
      taskSpec: {params: [{name: d}], results: [{name: d}], steps: [{image: alpine, script: "printf $(params.d) > $(results.d.path)"}]}
`)
	wantReason(t, out, "Succeeded")
	if got := result(t, task(t, out, "deploy"), "d"); got != "sha256:1" {
		t.Errorf("deploy saw %q", got)
	}
	for _, u := range rec.updates {
		if u.PipelineTask == "build" {
			t.Errorf("reused task was reported as run again: %+v", u)
		}
	}
	if len(rec.updates) != 2 || rec.updates[0].State != TaskRunning || rec.updates[1].State != TaskSucceeded {
		t.Errorf("updates = %+v", rec.updates)
	}
}

func TestIndependentTasksRunConcurrently(t *testing.T) {
	f := newFixture(t)
	f.opts.MaxParallel = 3
	start := time.Now()
	out := f.execute(t, t.Context(), `
metadata: {name: parallel}
spec:
  pipelineSpec:
    tasks:
    - {name: a, taskSpec: {steps: [{image: alpine, script: "sleep 1"}]}}
    - {name: b, taskSpec: {steps: [{image: alpine, script: "sleep 1"}]}}
    - {name: c, taskSpec: {steps: [{image: alpine, script: "sleep 1"}]}}
    - {name: d, runAfter: [a, b, c], taskSpec: {steps: [{image: alpine, script: "true"}]}}
`)
	wantReason(t, out, "Succeeded")
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("three 1s tasks took %s; they did not run concurrently", d)
	}
	if task(t, out, "d").StartTime.Before(task(t, out, "a").CompletionTime) {
		t.Errorf("d started before its runAfter parent finished")
	}
}
