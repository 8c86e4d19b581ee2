package trigger

import (
	"context"
	"fmt"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"

	"slipway.dev/slipway/pipelines"
)

var (
	corev1EmptyDir = corev1.EmptyDirVolumeSource{}
	corev1PVC      = corev1.PersistentVolumeClaimVolumeSource{ClaimName: BuildCacheClaim}
)

// validateRun checks a PipelineRun the way Tekton's admission webhook would, and checks its
// params against the pipeline it runs, so that a bad override in an Application is reported with
// Tekton's own message instead of failing later in the executor.
func validateRun(ctx context.Context, pr *tektonv1.PipelineRun) error {
	check := pr.DeepCopy()
	check.SetDefaults(ctx)
	if err := check.Validate(ctx); err != nil {
		return fmt.Errorf("invalid pipeline run: %w", err)
	}
	p, err := pipelines.Pipeline(pr.Spec.PipelineRef.Name)
	if err != nil {
		return err
	}
	declared := map[string]bool{}
	for _, ps := range p.Spec.Params {
		declared[ps.Name] = true
	}
	for _, param := range pr.Spec.Params {
		if !declared[param.Name] {
			return fmt.Errorf("invalid pipeline run: param %q is not declared by pipeline %s", param.Name, p.Name)
		}
	}
	for _, ps := range p.Spec.Params {
		if ps.Default != nil {
			continue
		}
		found := false
		for _, param := range pr.Spec.Params {
			found = found || param.Name == ps.Name
		}
		if !found {
			return fmt.Errorf("invalid pipeline run: pipeline %s needs param %q", p.Name, ps.Name)
		}
	}
	return nil
}
