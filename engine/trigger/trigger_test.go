package trigger_test

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/release"
	"slipway.dev/slipway/engine/tektonexec"
	"slipway.dev/slipway/engine/trigger"
	"slipway.dev/slipway/internal/kubetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	beforeSHA = "9049f1265b7d61be4a8904a9a27120d2064dab3b"
	afterSHA  = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
)

func testConfig() trigger.Config {
	return trigger.Config{
		Registry:         "127.0.0.1:5000",
		BaseImage:        "127.0.0.1:5000/base@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
		Executor:         trigger.ExecutorLocal,
		InsecureRegistry: true,
	}
}

func sampleDelivery(ns, name string) *v1alpha1.Delivery {
	return &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.DeliverySpec{
			Provider: "github", DeliveryID: strings.TrimPrefix(name, "github-"), Event: "push",
			RepoURL: "https://github.com/acme/hello.git", RepoFullName: "acme/hello",
			Ref: "refs/heads/main", Before: beforeSHA, After: afterSHA, Author: "alice",
			ReceivedAt: metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		},
	}
}

func sampleApplication(ns, name string) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/acme/hello.git"},
			Services:     []v1alpha1.Service{{Name: "web", Port: 8080}},
			Environments: []v1alpha1.Environment{{Name: "staging"}, {Name: "production"}},
		},
	}
}

// TestDeployRunGolden pins the PipelineRun a push produces; review a change with
// `go test ./engine/trigger -run TestDeployRunGolden -update` and `git diff`.
func TestDeployRunGolden(t *testing.T) {
	tests := []struct {
		name   string
		app    func(*v1alpha1.Application)
		config func(*trigger.Config)
	}{
		{
			name: "local-executor",
		},
		{
			name: "tekton-monorepo",
			app: func(a *v1alpha1.Application) {
				a.Spec.Source.Path = "services/hello"
				a.Spec.Build.GoPackage = "./cmd/hello"
				a.Spec.Build.Params = map[string]string{"insecure-registry": "false"}
			},
			config: func(c *trigger.Config) {
				c.Executor, c.InsecureRegistry, c.Registry = trigger.ExecutorTekton, false, "registry.example.com/team/"
				// As the controller configures it in a cluster.
				c.ServiceAccount, c.RegistryCredentialsSecret, c.SigningKeySecret = "slipway-pipeline", "registry-push", "cosign-key"
			},
		},
		{
			// As the controller configures it with SLIPWAY_SIGNING_MODE=keyless.
			name: "tekton-keyless",
			config: func(c *trigger.Config) {
				c.Executor, c.InsecureRegistry, c.Registry = trigger.ExecutorTekton, false, "registry.example.com/team"
				c.ServiceAccount, c.RegistryCredentialsSecret = "slipway-pipeline", "registry-push"
				c.Keyless = &trigger.Keyless{FulcioURL: "https://fulcio.example.com", RekorURL: "https://rekor.example.com",
					TimestampURL: "https://timestamp.example.com/api/v1/timestamp"}
			},
		},
	}
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, cfg := sampleApplication("acme", "hello"), testConfig()
			if tt.app != nil {
				tt.app(app)
			}
			if tt.config != nil {
				tt.config(&cfg)
			}
			pr, err := trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-72d3162e-cc78-11e3-81ab-4c9367dc0958"), app, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, tt.name+".yaml"), pr, "TestDeployRunGolden")
		})
	}
}

// checkGolden compares pr, as YAML, with the golden file, or with -update rewrites it; test
// is the test to name in the hint.
func checkGolden(t *testing.T, golden string, pr any, test string) {
	t.Helper()
	got, err := yaml.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./engine/trigger -run %s -update)", err, test)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from %s (run go test ./engine/trigger -run %s -update and review the diff)\ngot:\n%s", test, golden, test, got)
	}
}

func TestDeployRunParams(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		app     func(*v1alpha1.Application)
		wantErr string
		want    map[string]string // params of the run
	}{
		{
			name: "defaults",
			want: map[string]string{"path": ".", "go-package": "", "revision": afterSHA, "ref": "refs/heads/main",
				"strategy": "auto", "image": "127.0.0.1:5000/apps/acme/hello", "insecure-registry": "true", "provider": ""},
		},
		{
			name: "build spec",
			app: func(a *v1alpha1.Application) {
				a.Spec.Build = v1alpha1.BuildSpec{Strategy: "dockerfile", Dockerfile: "build/Dockerfile", Builder: "paketo@sha256:1"}
			},
			want: map[string]string{"strategy": "dockerfile", "dockerfile": "build/Dockerfile", "builder": "paketo@sha256:1"},
		},
		{
			name:   "scan policy from the application's params",
			params: map[string]string{"severity-threshold": "CRITICAL", "scan-ignore": "ignore: []"},
			want:   map[string]string{"severity-threshold": "CRITICAL", "scan-ignore": "ignore: []"},
		},
		{
			name:   "declared param overridden",
			params: map[string]string{"go-package": "./cmd/hello"},
			want:   map[string]string{"go-package": "./cmd/hello"},
		},
		{
			name:    "undeclared param",
			params:  map[string]string{"no-such-param": "x"},
			wantErr: `param "no-such-param" is not declared by pipeline slipway-deploy`,
		},
		{
			name:    "undeclared param among declared ones",
			params:  map[string]string{"path": "svc", "cache-from": "x"},
			wantErr: `param "cache-from" is not declared`,
		},
		{
			// Tekton compares param names case-insensitively.
			name:    "declared param in another case",
			params:  map[string]string{"Path": "svc"},
			wantErr: "spec.params[path].name",
		},
		{
			name:    "identity param",
			params:  map[string]string{"revision": beforeSHA},
			wantErr: `spec.build.params[revision]: param "revision" is set by Slipway from the commit the delivery names and cannot be overridden`,
		},
		{
			name:    "identity param in another case",
			params:  map[string]string{"Image": "evil.example.com/x"},
			wantErr: `spec.build.params[Image]: param "image" is set by Slipway`,
		},
		{
			name:    "every identity param named",
			params:  map[string]string{"repo-url": "https://example.com/other.git", "status-context": "ci", "provider": "gitlab", "path": "svc"},
			wantErr: `spec.build.params[provider]: param "provider" is set by Slipway from the Application's spec.source.provider and cannot be overridden; spec.build.params[repo-url]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := sampleApplication("acme", "hello")
			if tt.app != nil {
				tt.app(app)
			}
			app.Spec.Build.Params = tt.params
			pr, err := trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-1"), app, testConfig())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "application hello") {
					t.Errorf("err = %v, want it to name the application", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, p := range pr.Spec.Params {
				got[p.Name] = p.Value.StringVal
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("param %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestRunName(t *testing.T) {
	tests := []struct {
		name string
		app  string
	}{
		{name: "short", app: "hello"},
		{name: "63-character label", app: strings.Repeat("a", 63)},
		{name: "hyphen at the cut", app: strings.Repeat("a", 39) + "-" + strings.Repeat("b", 20)},
		{name: "hyphens before the cut", app: strings.Repeat("a", 30) + strings.Repeat("-", 15) + "b"},
		{name: "dot at the cut", app: strings.Repeat("a", 39) + ".b"},
		{name: "dot before hyphens at the cut", app: strings.Repeat("a", 37) + ".b--c"},
		{name: "253-character subdomain", app: strings.Repeat(strings.Repeat("a", 62)+".", 4) + "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := validation.IsDNS1123Subdomain(tt.app); len(errs) > 0 {
				t.Fatalf("test input %q is not a valid object name: %v", tt.app, errs)
			}
			got := trigger.RunName(tt.app, "github-72d3162e-cc78-11e3-81ab-4c9367dc0958", trigger.FlowDeploy)
			if again := trigger.RunName(tt.app, "github-72d3162e-cc78-11e3-81ab-4c9367dc0958", trigger.FlowDeploy); again != got {
				t.Errorf("RunName is not deterministic: %q then %q", got, again)
			}
			if len(got) > 63 {
				t.Errorf("RunName = %q, %d characters; want at most 63 (Tekton copies it into label values)", got, len(got))
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("RunName = %q, not a valid object name: %v", got, errs)
			}
			if !strings.Contains(tt.app, ".") {
				if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
					t.Errorf("RunName = %q, not a DNS-1123 label: %v", got, errs)
				}
			}
			if !strings.HasPrefix(got, tt.app[:min(len(tt.app), 10)]) {
				t.Errorf("RunName = %q, want it to start with the application's name", got)
			}
		})
	}

	t.Run("distinct inputs", func(t *testing.T) {
		names := map[string]string{}
		for _, in := range [][3]string{
			{"hello", "github-1", "deploy"},
			{"hello", "github-2", "deploy"},
			{"hello2", "github-1", "deploy"},
			{"hello", "github-1", "preview"},
			{strings.Repeat("a", 50), "github-1", "deploy"},
			{strings.Repeat("a", 51), "github-1", "deploy"},
		} {
			n := trigger.RunName(in[0], in[1], in[2])
			if prev, ok := names[n]; ok {
				t.Errorf("RunName%q = RunName(%s) = %q", in, prev, n)
			}
			names[n] = fmt.Sprint(in)
		}
	})
}

// TestReconcilePush proves that a push to the tracked branch creates exactly one labelled,
// owned PipelineRun and records it on the Delivery, however often it is reconciled.
func TestReconcilePush(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	app := sampleApplication(ns, "hello")
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	d := sampleDelivery(ns, "github-72d3162e-cc78-11e3-81ab-4c9367dc0958")
	d.Spec.RepoURL = "http://GitHub.com/acme/hello/" // another spelling of the Application's URL
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}
	if _, err := r.Reconcile(t.Context(), req); err != nil {
		t.Fatal(err)
	}

	runs := listRuns(t, c, ns)
	if len(runs) != 1 {
		t.Fatalf("%d pipeline runs, want 1", len(runs))
	}
	pr := runs[0]
	wantName := trigger.RunName(app.Name, d.Name, trigger.FlowDeploy)
	if pr.Name != wantName {
		t.Errorf("run name = %q, want %q", pr.Name, wantName)
	}
	for k, v := range map[string]string{
		v1alpha1.LabelApplication: "hello", v1alpha1.LabelDelivery: d.Name,
		v1alpha1.LabelSHA: afterSHA, v1alpha1.LabelFlow: trigger.FlowDeploy,
	} {
		if pr.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pr.Labels[k], v)
		}
	}
	if got := pr.Annotations[v1alpha1.AnnotationExecutor]; got != trigger.ExecutorLocal {
		t.Errorf("annotation %s = %q, want %q", v1alpha1.AnnotationExecutor, got, trigger.ExecutorLocal)
	}
	if len(pr.OwnerReferences) != 1 || pr.OwnerReferences[0].UID != app.UID || pr.OwnerReferences[0].Kind != "Application" {
		t.Errorf("owner references = %+v, want the Application %s", pr.OwnerReferences, app.UID)
	}

	got := getDelivery(t, c, d)
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != v1alpha1.ReasonSucceeded {
		t.Fatalf("Ready = %+v, want True/%s", ready, v1alpha1.ReasonSucceeded)
	}
	want := []v1alpha1.TriggeredRun{{Application: "hello", Flow: trigger.FlowDeploy, PipelineRun: wantName}}
	if fmt.Sprint(got.Status.Triggered) != fmt.Sprint(want) {
		t.Errorf("triggered = %+v, want %+v", got.Status.Triggered, want)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration = %d, want %d", got.Status.ObservedGeneration, got.Generation)
	}

	t.Run("reconciled again", func(t *testing.T) {
		if _, err := r.Reconcile(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if n := len(listRuns(t, c, ns)); n != 1 {
			t.Errorf("%d pipeline runs, want 1", n)
		}
	})

	// A crash after the run was created but before the Delivery's status was written leaves a
	// Delivery without a Ready condition; the retry must find the run it made, not make another.
	t.Run("retried after losing the status", func(t *testing.T) {
		lost := getDelivery(t, c, d)
		lost.Status = v1alpha1.DeliveryStatus{}
		if err := c.Status().Update(t.Context(), lost); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Reconcile(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if n := len(listRuns(t, c, ns)); n != 1 {
			t.Errorf("%d pipeline runs, want 1", n)
		}
		if got := getDelivery(t, c, d); fmt.Sprint(got.Status.Triggered) != fmt.Sprint(want) {
			t.Errorf("triggered = %+v, want %+v", got.Status.Triggered, want)
		}
	})
}

// TestReconcileSeveralApplications proves a monorepo push starts one run per matching
// Application, in name order.
func TestReconcileSeveralApplications(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	for _, name := range []string{"web", "api"} {
		app := sampleApplication(ns, name)
		app.Spec.Source.Path = name
		if err := c.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}
	d := sampleDelivery(ns, "github-monorepo")
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
		t.Fatal(err)
	}
	if n := len(listRuns(t, c, ns)); n != 2 {
		t.Errorf("%d pipeline runs, want 2", n)
	}
	got := getDelivery(t, c, d)
	var apps []string
	for _, tr := range got.Status.Triggered {
		apps = append(apps, tr.Application)
	}
	if fmt.Sprint(apps) != "[api web]" {
		t.Errorf("triggered applications = %v, want [api web]", apps)
	}
}

// TestReconcileNothingToDo proves that deliveries no Application acts on are closed with a
// reason and start nothing.
func TestReconcileNothingToDo(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	app := sampleApplication(ns, "hello")
	app.Spec.Source.Branch = "release"
	if err := c.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		mutate     func(*v1alpha1.Delivery)
		wantReason string
	}{
		{
			name:       "push to another branch",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.Ref = "refs/heads/main" },
			wantReason: v1alpha1.ReasonNoApplication,
		},
		{
			name:       "push to another repository",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.RepoURL = "https://github.com/acme/other.git" },
			wantReason: v1alpha1.ReasonNoApplication,
		},
		{
			name:       "push from another provider",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.Provider = "gitlab" },
			wantReason: v1alpha1.ReasonNoApplication,
		},
		{
			name: "ping",
			mutate: func(d *v1alpha1.Delivery) {
				d.Spec.Event, d.Spec.Ref, d.Spec.Before, d.Spec.After = "ping", "", "", ""
			},
			wantReason: v1alpha1.ReasonIgnored,
		},
		{
			name:       "branch delete",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.Event, d.Spec.After = "branch-delete", strings.Repeat("0", 40) },
			wantReason: v1alpha1.ReasonIgnored,
		},
		{
			name:       "push with zero after",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.After = strings.Repeat("0", 40) },
			wantReason: v1alpha1.ReasonIgnored,
		},
		{
			name:       "tag no Application deploys",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.Event, d.Spec.Ref = "tag", "refs/tags/release" },
			wantReason: v1alpha1.ReasonNoApplication,
		},
		{
			name:       "push to a tag ref",
			mutate:     func(d *v1alpha1.Delivery) { d.Spec.Ref = "refs/tags/release" },
			wantReason: v1alpha1.ReasonIgnored,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleDelivery(ns, fmt.Sprintf("github-%d", i))
			d.Spec.Ref = "refs/heads/release"
			tt.mutate(d)
			if err := c.Create(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
				t.Fatal(err)
			}
			got := getDelivery(t, c, d)
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != tt.wantReason {
				t.Errorf("Ready = %+v, want True/%s", ready, tt.wantReason)
			}
			if len(got.Status.Triggered) != 0 {
				t.Errorf("triggered = %+v, want none", got.Status.Triggered)
			}
		})
	}
	if n := len(listRuns(t, c, ns)); n != 0 {
		t.Errorf("%d pipeline runs, want none", n)
	}
}

// TestReconcileBadParams proves that an Application whose param overrides Tekton would reject,
// or that override what Slipway sets from the Delivery, is reported on the Delivery (Stalled,
// with a message naming the param) instead of being retried forever, that other Applications of
// the same push still run, and that nothing is created for it.
func TestReconcileBadParams(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		wantMsg string
	}{
		{name: "undeclared param", params: map[string]string{"builder-image": "x"}, wantMsg: `"builder-image"`},
		{name: "identity param", params: map[string]string{"repo-url": "https://github.com/evil/fork.git"},
			wantMsg: `spec.build.params[repo-url]: param "repo-url" is set by Slipway`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ns := testNamespace(t)
			r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
			bad := sampleApplication(ns, "hello")
			bad.Spec.Build.Params = tt.params
			good := sampleApplication(ns, "world")
			for _, app := range []*v1alpha1.Application{bad, good} {
				if err := c.Create(t.Context(), app); err != nil {
					t.Fatal(err)
				}
			}
			d := sampleDelivery(ns, "github-bad-params")
			if err := c.Create(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}); err != nil {
				t.Fatalf("Reconcile: %v, want the bad spec recorded, not an error", err)
			}
			var got v1alpha1.Delivery
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(d), &got); err != nil {
				t.Fatal(err)
			}
			ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			stalled := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled)
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonInvalidSpec ||
				!strings.Contains(ready.Message, tt.wantMsg) {
				t.Errorf("Ready = %+v, want False/InvalidSpec with %q", ready, tt.wantMsg)
			}
			if stalled == nil || stalled.Status != metav1.ConditionTrue {
				t.Errorf("Stalled = %+v, want True", stalled)
			}
			runs := listRuns(t, c, ns)
			if len(runs) != 1 || runs[0].Labels[v1alpha1.LabelApplication] != "world" {
				t.Errorf("pipeline runs = %d, want exactly one, for world", len(runs))
			}
		})
	}
}

// TestIdentityParamsCannotBeOverridden tries every param Slipway sets from the Delivery, the
// Application and the platform, in both pipelines.
func TestIdentityParamsCannotBeOverridden(t *testing.T) {
	for _, param := range []string{"application", "repo-url", "revision", "ref", "image", "pull-request", "provider", "status-context"} {
		t.Run(param, func(t *testing.T) {
			app := sampleApplication("acme", "hello")
			app.Spec.Previews = &v1alpha1.PreviewPolicy{Enabled: true}
			app.Spec.Build.Params = map[string]string{param: "x"}
			d := sampleDelivery("acme", "github-1")
			want := fmt.Sprintf("spec.build.params[%s]: param %q is set by Slipway", param, param)
			if _, err := trigger.DeployRun(t.Context(), d, app, testConfig()); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("deploy run: err = %v, want %q", err, want)
			}
			p := &v1alpha1.Preview{Spec: v1alpha1.PreviewSpec{Application: "hello", PullRequest: 7, HeadSHA: afterSHA}}
			if _, err := trigger.PreviewRun(t.Context(), d, app, p, testConfig()); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("preview run: err = %v, want %q", err, want)
			}
		})
	}
}

// TestDeployRunRelease checks the release label: the name the Release of the run will have, a
// valid label value however long the Application's name, and none on preview runs.
func TestDeployRunRelease(t *testing.T) {
	for _, name := range []string{"hello", strings.Repeat("a", 50), strings.Repeat("b", 63), strings.Repeat("c", 39) + "-" + strings.Repeat("d", 60)} {
		t.Run(fmt.Sprint(len(name)), func(t *testing.T) {
			pr, err := trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-1"), sampleApplication("acme", name), testConfig())
			if err != nil {
				t.Fatal(err)
			}
			got := pr.Labels[v1alpha1.LabelRelease]
			if want := release.Name(name, afterSHA); got != want {
				t.Errorf("release label = %q, want %q (release.Name)", got, want)
			}
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("release label %q: %v", got, errs)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("release name %q: %v", got, errs)
			}
			if len(name) <= 50 && got != name+"-"+afterSHA[:12] {
				t.Errorf("release label = %q, want the application and the commit's first 12 digits", got)
			}
		})
	}
	// Names cut to the same prefix stay apart.
	a, b := strings.Repeat("e", 40)+"-one-"+strings.Repeat("x", 20), strings.Repeat("e", 40)+"-two-"+strings.Repeat("x", 20)
	if v1alpha1.ReleaseName(a, afterSHA) == v1alpha1.ReleaseName(b, afterSHA) {
		t.Errorf("%s and %s share the release name %s", a, b, v1alpha1.ReleaseName(a, afterSHA))
	}
	p := &v1alpha1.Preview{Spec: v1alpha1.PreviewSpec{Application: "hello", PullRequest: 7, HeadSHA: afterSHA}}
	app := sampleApplication("acme", "hello")
	app.Spec.Previews = &v1alpha1.PreviewPolicy{Enabled: true}
	pr, err := trigger.PreviewRun(t.Context(), sampleDelivery("acme", "github-1"), app, p, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := pr.Labels[v1alpha1.LabelRelease]; ok {
		t.Errorf("preview run has release label %q; previews make no Release", v)
	}
}

func TestReconcileMissingDelivery(t *testing.T) {
	c, ns := testNamespace(t)
	r := &trigger.Reconciler{Client: c, Runs: testRuns(t), Config: testConfig(), Log: testLogger(t)}
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "gone"}}); err != nil {
		t.Errorf("Reconcile of a deleted Delivery: %v", err)
	}
}

func testLogger(t *testing.T) *slog.Logger { return kubetest.Logger(t) }

// testRuns is Tekton's clientset executor on the test API server, as slipway dev and the
// controller use it; call it after testNamespace.
func testRuns(t *testing.T) trigger.Runs {
	t.Helper()
	ex, err := tektonexec.New(apiServer.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func listRuns(t *testing.T, c client.Client, ns string) []tektonv1.PipelineRun {
	t.Helper()
	var list tektonv1.PipelineRunList
	if err := c.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func getDelivery(t *testing.T, c client.Client, d *v1alpha1.Delivery) *v1alpha1.Delivery {
	t.Helper()
	var got v1alpha1.Delivery
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(d), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

// apiServer is this package's one local API server, shared by its tests.
var apiServer = kubetest.New("trigger")

func TestMain(m *testing.M) { os.Exit(apiServer.Run(m)) }

// testNamespace returns a client of the shared API server and a new namespace for the test.
func testNamespace(t *testing.T) (client.Client, string) { return apiServer.Namespace(t) }

// The credentials each single task needs are bound only when configured, and only as Secrets.
func TestRunWorkspaces(t *testing.T) {
	cfg := testConfig()
	pr, err := trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-1"), sampleApplication("acme", "hello"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := func(pr *tektonv1.PipelineRun) (out []string) {
		for _, w := range pr.Spec.Workspaces {
			out = append(out, w.Name)
		}
		return out
	}
	if got := strings.Join(names(pr), ","); got != "source,cache" {
		t.Errorf("workspaces without credentials = %s, want source,cache", got)
	}
	cfg.SigningKeySecret, cfg.StatusTokenSecret, cfg.TrivyDB = "signing", "gh-token", "/var/lib/trivy"
	cfg.RegistryCredentialsSecret = "registry-push"
	pr, err = trigger.DeployRun(t.Context(), sampleDelivery("acme", "github-1"), sampleApplication("acme", "hello"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(pr), ","); got != "source,cache,signing-key,status-token,registry-credentials" {
		t.Errorf("workspaces = %s, want source,cache,signing-key,status-token,registry-credentials", got)
	}
	if reg := pr.Spec.Workspaces[4].Secret; reg.SecretName != "registry-push" ||
		fmt.Sprint(reg.Items) != fmt.Sprint([]corev1.KeyToPath{{Key: ".dockerconfigjson", Path: "config.json"}}) {
		t.Errorf("registry-credentials binding = %+v, want the dockerconfigjson key of registry-push as config.json", reg)
	}
	for _, w := range pr.Spec.Workspaces[2:] {
		if w.Secret == nil {
			t.Errorf("workspace %s is not bound to a Secret", w.Name)
		}
	}
	if key := pr.Spec.Workspaces[2].Secret; key.SecretName != "signing" || len(key.Items) != 2 {
		t.Errorf("signing-key binding = %+v, want the key and its password from Secret signing, not the public key", key)
	}
	params := map[string]string{}
	for _, p := range pr.Spec.Params {
		params[p.Name] = p.Value.StringVal
	}
	if params["provider"] != "github" || params["trivy-db"] != "/var/lib/trivy" {
		t.Errorf("params provider=%q trivy-db=%q, want github and the configured database", params["provider"], params["trivy-db"])
	}
}
