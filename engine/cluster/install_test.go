package cluster

import (
	"fmt"
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/internal/kubetest"
	"slipway.dev/slipway/pipelines"
)

const testStepImage = "registry.example.com/slipway/slipway@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

func newTestInstaller(t *testing.T, c client.Client, version string) *Installer {
	t.Helper()
	in, err := NewInstaller(c, testStepImage, version, DefaultPipelineServiceAccount, kubetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// installed reads back what is installed in ns: Tasks by catalog name and Pipelines by name.
func installed(t *testing.T, c client.Client, ns string) (map[string]*tektonv1.Task, map[string]*tektonv1.Pipeline) {
	t.Helper()
	var tasks tektonv1.TaskList
	var pls tektonv1.PipelineList
	ours := []client.ListOption{client.InNamespace(ns), client.MatchingLabels{LabelManagedBy: FieldManager}}
	if err := c.List(t.Context(), &tasks, ours...); err != nil {
		t.Fatal(err)
	}
	if err := c.List(t.Context(), &pls, ours...); err != nil {
		t.Fatal(err)
	}
	ts, ps := map[string]*tektonv1.Task{}, map[string]*tektonv1.Pipeline{}
	for i := range tasks.Items {
		ts[strings.TrimPrefix(tasks.Items[i].Name, "slipway-")] = &tasks.Items[i]
	}
	for i := range pls.Items {
		ps[pls.Items[i].Name] = &pls.Items[i]
	}
	return ts, ps
}

// TestInstallerInstallsPinnedPipelines installs into a namespace of a real API server with
// Tekton's CRDs and checks what the server holds: every catalog Task and both Pipelines, each
// accepted by Tekton's validation, applied by the slipway field manager, labelled with the
// version, every step image pinned by digest and Slipway's steps in the configured image; a
// namespace's own Task of the same name as a catalog Task left alone; the pipelines'
// ServiceAccount without a token.
func TestInstallerInstallsPinnedPipelines(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	ctx := t.Context()
	own := &tektonv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git-clone"},
		Spec: tektonv1.TaskSpec{Steps: []tektonv1.Step{{Name: "clone", Image: "alpine/git:2"}}}}
	if err := c.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	if err := newTestInstaller(t, c, "v1.2.3+abc").Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tasks, pls := installed(t, c, ns)
	refs, err := catalog.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		task, ok := tasks[r.Name]
		if !ok {
			t.Errorf("catalog task %s is not installed", r.Name)
			continue
		}
		checkInstalled(t, task, "v1.2.3_abc")
		task.SetDefaults(ctx)
		if err := task.Validate(ctx); err != nil {
			t.Errorf("Tekton rejects installed task %s: %v", task.Name, err)
		}
		orig, err := catalog.Task(r.Name, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range task.Spec.Steps {
			switch {
			case strings.HasPrefix(orig.Spec.Steps[i].Image, catalog.StepImage):
				if s.Image != testStepImage {
					t.Errorf("task %s step %s: image %q, want the step image %s", task.Name, s.Name, s.Image, testStepImage)
				}
			case s.Image != orig.Spec.Steps[i].Image || !digestPinned.MatchString(s.Image):
				t.Errorf("task %s step %s: image %q, want the catalog's pinned %q", task.Name, s.Name, s.Image, orig.Spec.Steps[i].Image)
			}
		}
	}
	if len(tasks) != len(refs) {
		t.Errorf("%d tasks installed, want the catalog's %d", len(tasks), len(refs))
	}
	for _, name := range pipelines.Names() {
		p, ok := pls[name]
		if !ok {
			t.Errorf("pipeline %s is not installed", name)
			continue
		}
		checkInstalled(t, p, "v1.2.3_abc")
		p.SetDefaults(ctx)
		if err := p.Validate(ctx); err != nil {
			t.Errorf("Tekton rejects installed pipeline %s: %v", name, err)
		}
		for _, pt := range append(append([]tektonv1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...) {
			if _, ok := tasks[strings.TrimPrefix(pt.TaskRef.Name, "slipway-")]; !ok || !strings.HasPrefix(pt.TaskRef.Name, "slipway-") {
				t.Errorf("pipeline %s task %s refers to %q, which is not installed", name, pt.Name, pt.TaskRef.Name)
			}
		}
	}
	var got tektonv1.Task
	if err := c.Get(ctx, client.ObjectKeyFromObject(own), &got); err != nil || got.Spec.Steps[0].Image != "alpine/git:2" {
		t.Errorf("the namespace's own git-clone task changed: %v %+v", err, got.Spec.Steps)
	}
	var sa corev1.ServiceAccount
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: DefaultPipelineServiceAccount}, &sa); err != nil {
		t.Fatal(err)
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %s mounts its token (%v)", sa.Name, sa.AutomountServiceAccountToken)
	}
}

func checkInstalled(t *testing.T, o client.Object, version string) {
	t.Helper()
	if o.GetLabels()[LabelManagedBy] != FieldManager || o.GetLabels()[LabelVersion] != version {
		t.Errorf("%s labels = %v, want managed by %s, version %s", o.GetName(), o.GetLabels(), FieldManager, version)
	}
	applied := false
	for _, m := range o.GetManagedFields() {
		applied = applied || (m.Manager == FieldManager && m.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !applied {
		t.Errorf("%s was not server-side applied by %s: %+v", o.GetName(), FieldManager, o.GetManagedFields())
	}
}

// TestInstallerRepairsDrift edits, deletes and adds installed objects behind the installer's
// back and checks the next Ensure puts everything back, writes nothing when nothing changed,
// and relabels everything after an upgrade.
func TestInstallerRepairsDrift(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	ctx := t.Context()
	in := newTestInstaller(t, c, "v1")
	if err := in.Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tasks, _ := installed(t, c, ns)
	clone := tasks["git-clone"]
	clone.Spec.Steps[0].Image = "evil.example.com/clone:latest"
	if err := c.Update(ctx, clone); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, &tektonv1.Pipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pipelines.Deploy}}); err != nil {
		t.Fatal(err)
	}
	retired := &tektonv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slipway-retired",
		Labels: map[string]string{LabelManagedBy: FieldManager}},
		Spec: tektonv1.TaskSpec{Steps: []tektonv1.Step{{Name: "s", Image: testStepImage}}}}
	if err := c.Create(ctx, retired); err != nil {
		t.Fatal(err)
	}

	if err := in.Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tasks, pls := installed(t, c, ns)
	if got := tasks["git-clone"].Spec.Steps[0].Image; got != testStepImage {
		t.Errorf("edited task's step image = %q, want it repaired to %s", got, testStepImage)
	}
	if _, ok := pls[pipelines.Deploy]; !ok {
		t.Errorf("deleted pipeline %s was not installed again", pipelines.Deploy)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(retired), &tektonv1.Task{}); !apierrors.IsNotFound(err) {
		t.Errorf("task %s, labelled Slipway's but not in the catalog: %v, want it deleted", retired.Name, err)
	}

	versions := func() map[string]string {
		ts, ps := installed(t, c, ns)
		out := map[string]string{}
		for n, o := range ts {
			out["task "+n] = o.ResourceVersion
		}
		for n, o := range ps {
			out["pipeline "+n] = o.ResourceVersion
		}
		return out
	}
	before := versions()
	if err := in.Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("an Ensure with nothing changed wrote: %v, then %v", before, after)
	}
	// A restart of the same version applies again (it remembers nothing) and changes nothing.
	if err := newTestInstaller(t, c, "v1").Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("re-applying the same objects wrote: %v, then %v", before, after)
	}

	if err := newTestInstaller(t, c, "v2").Ensure(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tasks, pls = installed(t, c, ns)
	for n, o := range tasks {
		if o.Labels[LabelVersion] != "v2" {
			t.Errorf("after the upgrade task %s is labelled %q, want v2", n, o.Labels[LabelVersion])
		}
	}
	for n, o := range pls {
		if o.Labels[LabelVersion] != "v2" {
			t.Errorf("after the upgrade pipeline %s is labelled %q, want v2", n, o.Labels[LabelVersion])
		}
	}
}

func TestInstallerRefusesUnpinnedImages(t *testing.T) {
	for _, img := range []string{"", "registry.example.com/slipway/slipway:v0.1.0", "slipway.dev/steps:v0.1.0",
		"registry.example.com/slipway@sha256:$(params.digest)"} {
		if _, err := NewInstaller(nil, img, "v1", "", nil); err == nil || !strings.Contains(err.Error(), "not pinned by digest") {
			t.Errorf("step image %q: err = %v, want it refused as not pinned by digest", img, err)
		}
	}
	ts := &tektonv1.TaskSpec{Steps: []tektonv1.Step{{Name: "ours", Image: catalog.StepImage + ":v1"}, {Name: "tool", Image: "gcr.io/kaniko-project/executor:latest"}}}
	if err := pinSteps(ts, testStepImage); err == nil || !strings.Contains(err.Error(), `step tool: image "gcr.io/kaniko-project/executor:latest" is not pinned by digest`) {
		t.Errorf("a tool image by tag: err = %v", err)
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{"v0.1.0": "v0.1.0", "0.1.0+g1234": "0.1.0_g1234", "": "unknown", "dev": "dev",
		strings.Repeat("a", 70): strings.Repeat("a", 63), "-x-": "x"} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkInstallerEnsure measures Ensure against a real API server: into a fresh namespace
// (every Task and Pipeline applied) and into one already current (reads only), the cost a run
// pays before it is submitted.
func BenchmarkInstallerEnsure(b *testing.B) {
	c, ns := apiServer.Namespace(b)
	cfg := apiServer.Config(b)
	cfg.QPS, cfg.Burst = 1000, 1000
	direct, err := client.New(cfg, client.Options{Scheme: kubetest.Scheme(b)})
	if err != nil {
		b.Fatal(err)
	}
	in, err := NewInstaller(direct, testStepImage, "bench", DefaultPipelineServiceAccount, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fresh namespace", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			name := fmt.Sprintf("%s-fresh-%d", ns, i)
			if err := c.Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := in.Ensure(b.Context(), name); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := in.Ensure(b.Context(), ns); err != nil {
		b.Fatal(err)
	}
	b.Run("current", func(b *testing.B) {
		for b.Loop() {
			if err := in.Ensure(b.Context(), ns); err != nil {
				b.Fatal(err)
			}
		}
	})
}
