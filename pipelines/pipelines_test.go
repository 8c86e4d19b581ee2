package pipelines_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/pipelines"
)

func TestPipelinesValidate(t *testing.T) {
	ctx := context.Background()
	for _, name := range pipelines.Names() {
		t.Run(name, func(t *testing.T) {
			p, err := pipelines.Pipeline(name)
			if err != nil {
				t.Fatal(err)
			}
			p.SetDefaults(ctx)
			if err := p.Validate(ctx); err != nil {
				t.Fatalf("Tekton rejects pipeline %s: %v", name, err)
			}
			for _, pt := range p.Spec.Tasks {
				if pt.TaskRef == nil {
					continue
				}
				if _, err := catalog.Task(pt.TaskRef.Name, ""); err != nil {
					t.Errorf("task %s refers to %q, which the catalog lacks: %v", pt.Name, pt.TaskRef.Name, err)
				}
			}
		})
	}
}

// TestPreviewParallelsDeploy keeps the preview pipeline the deploy pipeline's twin: the same
// tasks from the same catalog entries in the same order, the same results, and the deploy
// params plus the pull request's number, so that a step added to one is missed in the other
// only loudly.
func TestPreviewParallelsDeploy(t *testing.T) {
	deploy, err := pipelines.Pipeline(pipelines.Deploy)
	if err != nil {
		t.Fatal(err)
	}
	preview, err := pipelines.Pipeline(pipelines.Preview)
	if err != nil {
		t.Fatal(err)
	}
	tasks := func(p *tektonv1.Pipeline) []string {
		var out []string
		for _, pt := range append(append([]tektonv1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...) {
			ref := ""
			if pt.TaskRef != nil {
				ref = pt.TaskRef.Name
			}
			out = append(out, fmt.Sprintf("%s=%s after %v", pt.Name, ref, pt.RunAfter))
		}
		return out
	}
	if got, want := tasks(preview), tasks(deploy); !slices.Equal(got, want) {
		t.Errorf("preview tasks = %v, want the deploy pipeline's %v", got, want)
	}
	results := func(p *tektonv1.Pipeline) []string {
		var out []string
		for _, r := range p.Spec.Results {
			out = append(out, r.Name+"="+r.Value.StringVal)
		}
		return out
	}
	if got, want := results(preview), results(deploy); !slices.Equal(got, want) {
		t.Errorf("preview results = %v, want the deploy pipeline's %v", got, want)
	}
	params := map[string]bool{}
	for _, p := range preview.Spec.Params {
		params[p.Name] = true
	}
	for _, p := range deploy.Spec.Params {
		if !params[p.Name] {
			t.Errorf("preview pipeline lacks the deploy param %q", p.Name)
		}
		delete(params, p.Name)
	}
	if fmt.Sprint(params) != "map[pull-request:true]" {
		t.Errorf("preview-only params = %v, want just pull-request", params)
	}
}
