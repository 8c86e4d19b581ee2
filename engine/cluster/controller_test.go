package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/engine/release"
	"slipway.dev/slipway/pipelines"
	"slipway.dev/slipway/webhooks/event"
)

// The controller turns a Delivery into a PipelineRun left to Tekton (no local-runner
// annotation), and Tekton's Succeeded status with its results into a Release and a commit
// in the config repo that pins the built image.
func TestControllerDeliveryToConfigCommit(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	if err := c.Create(t.Context(), newApp(ns, "hello")); err != nil {
		t.Fatal(err)
	}
	repoURL := startGit(t)
	cfg := ControllerConfig{
		Common: commonFor(t, ns), Registry: "registry.example.com/apps", SigningKeySecret: "cosign-key",
		ConfigRepo: ConfigRepo{URL: repoURL, Branch: "main", CacheDir: t.TempDir()},
		StepImage:  testStepImage, PipelineServiceAccount: DefaultPipelineServiceAccount, Version: "v0.1.0",
		RegistryCredentialsSecret: "registry-push",
	}
	start(t, cfg.Common, func(ctx context.Context) error { return RunController(ctx, cfg) })
	// The Application's namespace gets Slipway's pipelines before any push.
	eventually(t, "pipelines installed for the Application", func() error {
		return c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: pipelines.Preview}, &tektonv1.Pipeline{})
	})

	const sha = "199eddf46df50de8d02e99bf1c5fdb4101338224"
	in := &inbox.Inbox{Writer: c, Reader: c, Namespace: ns}
	if _, err := in.Record(t.Context(), event.Event{Provider: event.GitHub, Kind: event.Push, DeliveryID: "d-1",
		RepoURL: "https://github.com/Codertocat/Hello-World.git", RepoFullName: "Codertocat/Hello-World", Ref: "refs/heads/master",
		Before: "a10867b14bb761a232cd80139fbd4c0d33264240", After: sha, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	var pr tektonv1.PipelineRun
	eventually(t, "a PipelineRun for the delivery", func() error {
		var runs tektonv1.PipelineRunList
		if err := c.List(t.Context(), &runs, client.InNamespace(ns),
			client.MatchingLabels{v1alpha1.LabelDelivery: inbox.DeliveryName(event.GitHub, "d-1")}); err != nil {
			return err
		}
		if len(runs.Items) != 1 {
			return fmt.Errorf("%d runs", len(runs.Items))
		}
		pr = runs.Items[0]
		return nil
	})
	if v, ok := pr.Annotations[v1alpha1.AnnotationExecutor]; ok {
		t.Errorf("run %s has %s=%q; Tekton would not run it", pr.Name, v1alpha1.AnnotationExecutor, v)
	}
	if got := param(&pr, "image"); !strings.HasPrefix(got, "registry.example.com/apps/") {
		t.Errorf("image param = %q", got)
	}
	if !hasSecretWorkspace(&pr, "signing-key", "cosign-key") {
		t.Errorf("run %s does not bind the signing-key workspace to Secret cosign-key: %+v", pr.Name, pr.Spec.Workspaces)
	}
	if !hasSecretWorkspace(&pr, "registry-credentials", "registry-push") {
		t.Errorf("run %s does not bind the registry-credentials workspace to Secret registry-push: %+v", pr.Name, pr.Spec.Workspaces)
	}
	// Build steps hold no cluster credentials.
	if tmpl := pr.Spec.TaskRunTemplate; tmpl.ServiceAccountName != DefaultPipelineServiceAccount || tmpl.PodTemplate == nil ||
		tmpl.PodTemplate.AutomountServiceAccountToken == nil || *tmpl.PodTemplate.AutomountServiceAccountToken {
		t.Errorf("run %s taskRunTemplate = %+v, want service account %s and no token", pr.Name, tmpl, DefaultPipelineServiceAccount)
	}
	if got := pr.Labels[v1alpha1.LabelRelease]; got != release.Name("hello", sha) {
		t.Errorf("run %s release label = %q, want %q", pr.Name, got, release.Name("hello", sha))
	}
	// The run was submitted into a namespace that has what it names, so Tekton can run it.
	var deployPipeline tektonv1.Pipeline
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: pr.Spec.PipelineRef.Name}, &deployPipeline); err != nil {
		t.Fatalf("pipeline %s of run %s: %v", pr.Spec.PipelineRef.Name, pr.Name, err)
	}
	for _, pt := range deployPipeline.Spec.Tasks {
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: pt.TaskRef.Name}, &tektonv1.Task{}); err != nil {
			t.Errorf("task %s of pipeline %s: %v", pt.TaskRef.Name, deployPipeline.Name, err)
		}
	}

	// Tekton finishes the run.
	image := "registry.example.com/apps/" + ns + "/hello@sha256:" + strings.Repeat("ab", 32)
	eventually(t, "Tekton-shaped status written", func() error {
		var cur tektonv1.PipelineRun
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(&pr), &cur); err != nil {
			return err
		}
		cur.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue,
			Reason: tektonv1.PipelineRunReasonSuccessful.String(), Message: "Tasks Completed: 7 (Failed: 0, Cancelled 0), Skipped: 0"})
		cur.Status.Results = []tektonv1.PipelineRunResult{
			{Name: "IMAGE_URL", Value: *tektonv1.NewStructuredValues(image)},
			{Name: "COMMIT", Value: *tektonv1.NewStructuredValues(sha)},
		}
		return c.Status().Update(t.Context(), &cur)
	})

	var rel v1alpha1.Release
	eventually(t, "release committed to dev", func() error {
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: release.Name("hello", sha)}, &rel); err != nil {
			return err
		}
		for _, e := range rel.Status.Environments {
			if e.Name == "dev" && e.Phase == deploy.PhaseCommitted && e.ConfigRevision != "" {
				return nil
			}
		}
		return fmt.Errorf("release environments %+v", rel.Status.Environments)
	})
	if rel.Spec.Image != image || rel.Spec.SourceSHA != sha {
		t.Errorf("release spec = %+v", rel.Spec)
	}

	reader, err := configrepo.New(repoURL, t.TempDir(), configrepo.Author{Name: "test", Email: "test@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	rev, files, err := reader.Read(t.Context(), "main", deploy.Dir("dev", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if rev != rel.Status.Environments[0].ConfigRevision {
		t.Errorf("config repo at %s, release records %s", rev, rel.Status.Environments[0].ConfigRevision)
	}
	pinned := false
	for _, f := range files {
		pinned = pinned || strings.Contains(string(f.Data), image)
	}
	if !pinned {
		t.Errorf("no committed manifest names %s", image)
	}
	checkRepaired(t, c, ns)
}

// checkRepaired deletes one installed Task and edits another behind the controller's back, and
// waits for the controller to put both back.
func checkRepaired(t *testing.T, c client.Client, ns string) {
	t.Helper()
	get := func(name string) (*tektonv1.Task, error) {
		var task tektonv1.Task
		err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: InstalledTaskName(name)}, &task)
		return &task, err
	}
	gone, err := get("trivy-scan")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	edited, err := get("detect")
	if err != nil {
		t.Fatal(err)
	}
	edited.Spec.Steps[0].Args = append(edited.Spec.Steps[0].Args, "--strategy=ko")
	if err := c.Update(t.Context(), edited); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted task installed again", func() error {
		got, err := get("trivy-scan")
		if err == nil && got.UID == gone.UID {
			return fmt.Errorf("still the deleted one")
		}
		return err
	})
	eventually(t, "edited task repaired", func() error {
		got, err := get("detect")
		if err != nil {
			return err
		}
		if slices.Contains(got.Spec.Steps[0].Args, "--strategy=ko") {
			return fmt.Errorf("args still %v", got.Spec.Steps[0].Args)
		}
		return nil
	})
}

func param(pr *tektonv1.PipelineRun, name string) string {
	for _, p := range pr.Spec.Params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return ""
}

func hasSecretWorkspace(pr *tektonv1.PipelineRun, ws, secret string) bool {
	for _, w := range pr.Spec.Workspaces {
		if w.Name == ws && w.Secret != nil && w.Secret.SecretName == secret {
			return true
		}
	}
	return false
}
