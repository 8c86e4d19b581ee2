package catalog_test

import (
	"context"
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
			for _, s := range task.Spec.Steps {
				if !strings.HasPrefix(s.Image, catalog.StepImage+":") && !strings.HasPrefix(s.Image, catalog.StepImage+"@") && !pinnedByDigest.MatchString(s.Image) {
					t.Errorf("step %s uses image %q; catalog steps use %s or a tool's image pinned by digest", s.Name, s.Image, catalog.StepImage)
				}
			}
			for _, f := range []string{"README.md", "samples/run.yaml"} {
				if _, err := os.Stat(filepath.Join(r.Name, r.Version, f)); err != nil {
					t.Errorf("task %s/%s lacks %s", r.Name, r.Version, f)
				}
			}
			data, err := os.ReadFile(filepath.Join(r.Name, r.Version, "samples", "run.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var tr tektonv1.TaskRun
			if err := yaml.UnmarshalStrict(data, &tr); err != nil {
				t.Fatalf("sample run: %v", err)
			}
			if tr.Spec.TaskRef == nil || tr.Spec.TaskRef.Name != r.Name {
				t.Errorf("sample run does not refer to task %s", r.Name)
			}
		})
	}
}

func TestUnknownTask(t *testing.T) {
	if _, err := catalog.Task("no-such-task", ""); err == nil || !strings.Contains(err.Error(), "no-such-task") {
		t.Fatalf("err = %v, want one naming the task", err)
	}
}
