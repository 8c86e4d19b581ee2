package trigger

import (
	"context"
	"fmt"
	"sort"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"

	"slipway.dev/slipway/pipelines"
)

var (
	corev1EmptyDir = corev1.EmptyDirVolumeSource{}
	corev1PVC      = corev1.PersistentVolumeClaimVolumeSource{ClaimName: BuildCacheClaim}
)

// identityParams are the params Slipway sets from the Delivery, the Application and the
// platform to say what a run builds, where its image goes and where its outcome is reported.
// An Application's spec.build.params may not set them: a run that built another repository or
// commit, pushed elsewhere, reported under another name or signed with other authorities would
// be recorded as this one.
var identityParams = map[string]string{
	"application":    "the Application's name",
	"repo-url":       "the repository the delivery came from",
	"revision":       "the commit the delivery names",
	"ref":            "the ref the delivery names",
	"image":          "the platform's registry and the Application's name",
	"pull-request":   "the pull request the delivery names",
	"provider":       "the Application's spec.source.provider",
	"status-context": "the flow (deploy or preview)",
	"fulcio-url":     "the platform's signing configuration",
	"rekor-url":      "the platform's signing configuration",
	"timestamp-url":  "the platform's signing configuration",
}

// checkOverrides rejects an Application's param overrides of identity params, naming each.
// Tekton compares param names without regard to case, so neither may a param in another case.
func checkOverrides(overrides map[string]string) error {
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	var bad []string
	for _, k := range names {
		if from, ok := identityParams[strings.ToLower(k)]; ok {
			bad = append(bad, fmt.Sprintf("spec.build.params[%s]: param %q is set by Slipway from %s and cannot be overridden", k, strings.ToLower(k), from))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("invalid build params: %s", strings.Join(bad, "; "))
	}
	return nil
}

// validateRun checks a PipelineRun the way Tekton's admission webhook would (SetDefaults and
// Validate), and its params against the pipeline it runs the way Tekton's reconciler would
// before it starts a task, so that a bad override in an Application is reported when the
// Delivery is handled instead of failing the run later in the executor.
//
// The reconciler's checks (ValidateRequiredParametersProvided and ValidateParamTypesMatching in
// pkg/reconciler/pipelinerun/resources) cannot be imported: that package pulls in Tekton's whole
// reconciler, with the cloud KMS clients of trusted resources and SPIRE, some 450 packages the
// engine does not otherwise build. Their checks are a few lines each and are repeated here with
// Tekton's messages.
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
	p.SetDefaults(ctx)
	declared := map[string]tektonv1.ParamType{}
	for _, ps := range p.Spec.Params {
		declared[ps.Name] = ps.Type
	}
	// Tekton ignores params a pipeline does not declare; Slipway refuses them, so that a
	// misspelt override is not silently without effect.
	var wrongType []string
	for _, param := range check.Spec.Params {
		t, ok := declared[param.Name]
		if !ok {
			return fmt.Errorf("invalid pipeline run: param %q is not declared by pipeline %s", param.Name, p.Name)
		}
		if param.Value.Type != t {
			wrongType = append(wrongType, param.Name)
		}
	}
	if len(wrongType) > 0 {
		return fmt.Errorf("invalid pipeline run: parameters have inconsistent types : %s", wrongType)
	}
	var missing []string
	for _, ps := range p.Spec.Params {
		if ps.Default != nil {
			continue
		}
		found := false
		for _, param := range check.Spec.Params {
			found = found || param.Name == ps.Name
		}
		if !found {
			missing = append(missing, ps.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("invalid pipeline run: pipelineRun missing parameters: %s", missing)
	}
	return nil
}
