package pipelines_test

import (
	"context"
	"testing"

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
