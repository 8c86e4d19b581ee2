package devenv

import (
	"context"
	"fmt"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/pipelines"
)

// Resolver resolves pipelineRefs and taskRefs from Slipway's embedded pipelines and catalog.
type Resolver struct{}

// Pipeline returns the embedded pipeline ref names, defaulted the way Tekton would.
func (Resolver) Pipeline(ctx context.Context, ref *tektonv1.PipelineRef) (*tektonv1.PipelineSpec, error) {
	if ref == nil || ref.Name == "" {
		return nil, fmt.Errorf("resolve pipeline: only references by name are supported")
	}
	p, err := pipelines.Pipeline(ref.Name)
	if err != nil {
		return nil, err
	}
	p.SetDefaults(ctx)
	return &p.Spec, nil
}

// Task returns the newest catalog task named by ref, defaulted the way Tekton would.
func (Resolver) Task(ctx context.Context, ref *tektonv1.TaskRef) (*tektonv1.TaskSpec, error) {
	if ref == nil || ref.Name == "" {
		return nil, fmt.Errorf("resolve task: only references by name are supported")
	}
	t, err := catalog.Task(ref.Name, "")
	if err != nil {
		return nil, err
	}
	t.SetDefaults(ctx)
	return &t.Spec, nil
}
