package catalog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/catalog"
)

// pinnedByDigest matches a third-party tool's image pinned by its sha256 digest.
var pinnedByDigest = regexp.MustCompile(`^[a-z0-9.:-]+(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$`)

func TestTasksValidate(t *testing.T) {
	ctx := context.Background()
	refs, err := catalog.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < 2 {
		t.Fatalf("catalog lists %d tasks, want at least 2", len(refs))
	}
	for _, r := range refs {
		t.Run(r.Name+"/"+r.Version, func(t *testing.T) {
			task, err := catalog.Task(r.Name, r.Version)
			if err != nil {
				t.Fatal(err)
			}
			if task.Name != r.Name {
				t.Errorf("metadata.name = %q, want %q", task.Name, r.Name)
			}
			if got := task.Labels["app.kubernetes.io/version"]; got != r.Version {
				t.Errorf("version label = %q, want %q", got, r.Version)
			}
			task.SetDefaults(ctx)
			if err := task.Validate(ctx); err != nil {
				t.Fatalf("Tekton rejects task: %v", err)
			}
			// In a cluster the controller replaces Slipway's step image with one pinned by
			// digest; every other image must be pinned here already.
			for _, s := range task.Spec.Steps {
				if !strings.HasPrefix(s.Image, catalog.StepImage+":") && !strings.HasPrefix(s.Image, catalog.StepImage+"@") && !pinnedByDigest.MatchString(s.Image) {
					t.Errorf("step %s uses image %q; catalog steps use %s or a tool's image pinned by digest", s.Name, s.Image, catalog.StepImage)
				}
				if strings.Contains(s.Image, "$(") {
					t.Errorf("step %s: image %q is made from params; the image a step runs must be fixed", s.Name, s.Image)
				}
			}
			for _, s := range task.Spec.Sidecars {
				if !pinnedByDigest.MatchString(s.Image) {
					t.Errorf("sidecar %s uses image %q, not pinned by digest", s.Name, s.Image)
				}
			}
			for _, ps := range task.Spec.Params {
				if ps.Default == nil || ps.Default.StringVal == "" || !(ps.Name == "builder" || strings.HasSuffix(ps.Name, "-image")) {
					continue
				}
				if !pinnedByDigest.MatchString(ps.Default.StringVal) {
					t.Errorf("param %s defaults to image %q, not pinned by digest", ps.Name, ps.Default.StringVal)
				}
			}
			for _, f := range []string{"README.md", "samples/run.yaml"} {
				if _, err := os.Stat(filepath.Join(r.Name, r.Version, f)); err != nil {
					t.Errorf("task %s/%s lacks %s", r.Name, r.Version, f)
				}
			}
			samples, err := filepath.Glob(filepath.Join(r.Name, r.Version, "samples", "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, sample := range samples {
				checkSampleRun(t, sample, r.Name)
			}
		})
	}
}

// checkSampleRun parses a sample TaskRun strictly and has Tekton default and validate it, as
// its admission webhook would on kubectl create; the run must refer to the task it samples.
func checkSampleRun(t *testing.T, path, task string) {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr tektonv1.TaskRun
	if err := yaml.UnmarshalStrict(data, &tr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if tr.APIVersion != "tekton.dev/v1" || tr.Kind != "TaskRun" {
		t.Errorf("%s: %s %s, want a tekton.dev/v1 TaskRun", path, tr.APIVersion, tr.Kind)
	}
	if tr.Spec.TaskRef == nil || tr.Spec.TaskRef.Name != task {
		t.Errorf("%s does not refer to task %s", path, task)
	}
	tr.SetDefaults(ctx)
	if err := tr.Validate(ctx); err != nil {
		t.Errorf("Tekton rejects %s: %v", path, err)
	}
}

// TestSampleRunValidationFails proves the sample check is not a formality: Tekton rejects a
// TaskRun that binds a workspace twice.
func TestSampleRunValidationFails(t *testing.T) {
	ctx := context.Background()
	var tr tektonv1.TaskRun
	if err := yaml.UnmarshalStrict([]byte(`
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: bad}
spec:
  taskRef: {name: git-clone}
  workspaces: [{name: output, emptyDir: {}}, {name: output, emptyDir: {}}]
`), &tr); err != nil {
		t.Fatal(err)
	}
	tr.SetDefaults(ctx)
	if err := tr.Validate(ctx); err == nil {
		t.Fatal("Tekton accepted a TaskRun binding one workspace twice")
	}
}

// TestREADMEListsEveryTask keeps the catalog's README table in step with its tasks.
func TestREADMEListsEveryTask(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	refs, err := catalog.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		row := fmt.Sprintf("| [%s](%s/%s/README.md) | %s |", r.Name, r.Name, r.Version, r.Version)
		if !strings.Contains(string(data), row) {
			t.Errorf("README.md lacks the row for %s %s (%q)", r.Name, r.Version, row)
		}
	}
}

func TestUnknownTask(t *testing.T) {
	if _, err := catalog.Task("no-such-task", ""); err == nil || !strings.Contains(err.Error(), "no-such-task") {
		t.Fatalf("err = %v, want one naming the task", err)
	}
}
