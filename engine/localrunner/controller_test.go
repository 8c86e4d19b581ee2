package localrunner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// apiServer starts a real kube-apiserver with Tekton's CRDs. It needs KUBEBUILDER_ASSETS (a
// directory with kube-apiserver and etcd, as hack/k8sbin/build.sh makes) and skips otherwise.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS not set; build the control plane with hack/k8sbin/build.sh")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tektoncd/pipeline").Output()
	if err != nil {
		t.Fatalf("find tekton module: %v", err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range []string{"300-pipelinerun.yaml", "300-taskrun.yaml"} {
		b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "config", "300-crds", f))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, crd); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		// No Tekton webhook here; everything is read and written as v1, the storage version.
		crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
		crds = append(crds, crd)
	}
	env := &envtest.Environment{CRDs: crds, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start api server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = 50, 100
	scheme, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startController(t *testing.T, c client.Client) (stop func()) {
	t.Helper()
	dir := t.TempDir()
	ctl := NewController(c, nil, Options{
		WorkRoot: filepath.Join(dir, "work"), LogRoot: filepath.Join(dir, "logs"),
		Steps: &HostSteps{AllowHostSteps: true},
	}, WithPollInterval(100*time.Millisecond))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctl.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func createRun(t *testing.T, c client.Client, doc string) *v1.PipelineRun {
	t.Helper()
	pr := &v1.PipelineRun{}
	if err := yaml.UnmarshalStrict([]byte(doc), pr); err != nil {
		t.Fatal(err)
	}
	pr.Namespace = "default"
	if err := c.Create(t.Context(), pr); err != nil {
		t.Fatalf("create pipelinerun: %v", err)
	}
	return pr
}

func waitFor(t *testing.T, c client.Client, pr *v1.PipelineRun, what string, cond func(*v1.PipelineRun) bool) *v1.PipelineRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur := &v1.PipelineRun{}
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(pr), cur); err == nil && cond(cur) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, cur.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isDone(pr *v1.PipelineRun) bool { return pr.IsDone() }

func getTaskRun(t *testing.T, c client.Client, name string) *v1.TaskRun {
	t.Helper()
	tr := &v1.TaskRun{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "default", Name: name}, tr); err != nil {
		t.Fatalf("get taskrun %s: %v", name, err)
	}
	return tr
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
      taskSpec: {steps: [{name: s, image: alpine, script: "true"}]}
`

func fixtureDoc(name, scriptA, scriptB string) string {
	r := strings.NewReplacer("%s", "\x00")
	doc := r.Replace(twoTasks)
	for _, v := range []string{name, scriptA, scriptB} {
		doc = strings.Replace(doc, "\x00", v, 1)
	}
	return doc
}

func TestControllerAgainstAPIServer(t *testing.T) {
	c := apiServer(t)

	t.Run("runs annotated pipelinerun and writes tekton status", func(t *testing.T) {
		startController(t, c)
		ignored := createRun(t, c, `
metadata: {name: tekton-owned}
spec: {pipelineSpec: {tasks: [{name: a, taskSpec: {steps: [{image: alpine, script: "true"}]}}]}}`)
		pr := createRun(t, c, fixtureDoc("ok", "printf 42 > $(results.v.path)", "printf got-$(params.v) > $(results.out.path)"))
		done := waitFor(t, c, pr, "pipelinerun to finish", isDone)
		cond := done.Status.GetCondition(apis.ConditionSucceeded)
		if cond.Status != corev1.ConditionTrue || cond.Reason != "Succeeded" {
			t.Fatalf("condition = %+v", cond)
		}
		if len(done.Status.ChildReferences) != 3 || done.Status.StartTime == nil || done.Status.CompletionTime == nil {
			t.Errorf("status = %+v", done.Status)
		}
		if len(done.Status.Results) != 1 || done.Status.Results[0].Value.StringVal != "got-42" {
			t.Errorf("results = %+v", done.Status.Results)
		}
		tr := getTaskRun(t, c, "ok-b")
		if tr.Labels[labelPipelineRun] != "ok" || tr.Labels[labelPipelineTask] != "b" || !metav1.IsControlledBy(tr, done) {
			t.Errorf("taskrun metadata = %+v", tr.ObjectMeta)
		}
		if c := tr.Status.GetCondition(apis.ConditionSucceeded); c == nil || c.Reason != "Succeeded" ||
			len(tr.Status.Steps) != 1 || tr.Status.Steps[0].Terminated == nil || len(tr.Status.Results) != 1 {
			t.Errorf("taskrun status = %+v", tr.Status)
		}
		cur := &v1.PipelineRun{}
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(ignored), cur); err != nil || cur.Status.GetCondition(apis.ConditionSucceeded) != nil {
			t.Errorf("a run without the annotation was touched: %+v", cur.Status)
		}
	})

	t.Run("cancel via spec.status", func(t *testing.T) {
		startController(t, c)
		pr := createRun(t, c, fixtureDoc("cancel", "sleep 60", "true"))
		waitFor(t, c, pr, "task a to start", func(p *v1.PipelineRun) bool { return len(p.Status.ChildReferences) > 0 })
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"status":"Cancelled"}}`))
		if err := c.Patch(t.Context(), pr, patch); err != nil {
			t.Fatal(err)
		}
		done := waitFor(t, c, pr, "pipelinerun to be cancelled", isDone)
		if r := done.Status.GetCondition(apis.ConditionSucceeded).Reason; r != "Cancelled" {
			t.Errorf("reason = %s", r)
		}
		if r := getTaskRun(t, c, "cancel-a").Status.GetCondition(apis.ConditionSucceeded).Reason; r != "TaskRunCancelled" {
			t.Errorf("taskrun reason = %s", r)
		}
	})

	t.Run("resumes after a crash without re-running succeeded tasks", func(t *testing.T) {
		// The state a SIGKILL leaves behind: the run Running, task a Succeeded, task b Running.
		// Task a's script fails if it runs again.
		pr := createRun(t, c, fixtureDoc("resume", "exit 1", "printf again-$(params.v) > $(results.out.path)"))
		now := time.Now()
		if err := (&Controller{client: c, opts: Options{}.withDefaults()}).updatePipelineRun(t.Context(), pr, func(st *v1.PipelineRunStatus) {
			markRunning(st, "running", now)
		}); err != nil {
			t.Fatal(err)
		}
		obs := &runObserver{c: &Controller{client: c, opts: Options{}.withDefaults()}, log: Options{}.withDefaults().Logger,
			pr: pr, pipeline: "resume", order: []string{"a", "b", "f"}, tasks: map[string]TaskOutcome{}}
		obs.TaskUpdate(t.Context(), TaskOutcome{PipelineTask: "a", TaskRunName: "resume-a", State: TaskSucceeded, Reason: "Succeeded",
			StartTime: now, CompletionTime: now,
			Results: []v1.TaskRunResult{{Name: "v", Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues("7")}}})
		obs.TaskUpdate(t.Context(), TaskOutcome{PipelineTask: "b", TaskRunName: "resume-b", State: TaskRunning, Reason: "Running", StartTime: now})

		startController(t, c)
		done := waitFor(t, c, pr, "resumed pipelinerun to finish", isDone)
		if cond := done.Status.GetCondition(apis.ConditionSucceeded); cond.Reason != "Succeeded" {
			t.Fatalf("condition = %+v", cond)
		}
		if len(done.Status.Results) != 1 || done.Status.Results[0].Value.StringVal != "again-7" {
			t.Errorf("results = %+v", done.Status.Results)
		}
		if a := getTaskRun(t, c, "resume-a"); len(a.Status.Steps) != 0 {
			t.Errorf("succeeded task a was run again: %+v", a.Status.Steps)
		}
		if b := getTaskRun(t, c, "resume-b"); b.Status.GetCondition(apis.ConditionSucceeded).Reason != "Succeeded" {
			t.Errorf("task b = %+v", b.Status)
		}
		if done.Status.StartTime == nil || !done.Status.StartTime.Time.Equal(now.Truncate(time.Second)) {
			t.Errorf("start time not kept across the restart: %v vs %v", done.Status.StartTime, now)
		}
	})
}
