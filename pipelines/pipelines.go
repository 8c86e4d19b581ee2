// Package pipelines embeds Slipway's Tekton Pipelines (deploy and preview) and looks them up by
// name.
package pipelines

import (
	_ "embed"
	"fmt"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

//go:embed deploy.yaml
var deployYAML []byte

// Deploy is the name of the pipeline run for a push to an Application's tracked branch.
const Deploy = "slipway-deploy"

// Preview is the name of the pipeline run for a pull request's head commit.
const Preview = "slipway-preview"

// Names returns the names of the embedded pipelines.
func Names() []string {
	return []string{Deploy, Preview}
}

// Pipeline returns the embedded Pipeline with the given name. The preview pipeline is the
// deploy pipeline run for a pull request's head commit: the same tasks, results and params,
// plus the pull request's number, so the two cannot drift apart.
func Pipeline(name string) (*tektonv1.Pipeline, error) {
	var p tektonv1.Pipeline
	if err := yaml.UnmarshalStrict(deployYAML, &p); err != nil {
		return nil, fmt.Errorf("pipelines: parse deploy.yaml: %w", err)
	}
	switch name {
	case Deploy:
		return &p, nil
	case Preview:
		return preview(&p), nil
	}
	return nil, fmt.Errorf("pipelines: no pipeline named %q", name)
}

func preview(p *tektonv1.Pipeline) *tektonv1.Pipeline {
	p.Name = Preview
	p.Spec.Description = "Builds an Application's image from the exact head commit of a pull request " +
		"(the head Slipway trusts, or one a maintainer approved with /ok-to-test) for the pull request's " +
		"preview, with the deploy pipeline's tasks: fetch, detect, build, scan, sign and report."
	for i := range p.Spec.Params {
		switch ps := &p.Spec.Params[i]; ps.Name {
		case "revision":
			ps.Description = "The pull request's head commit."
		case "status-context":
			ps.Default = tektonv1.NewStructuredValues("slipway/preview")
		}
	}
	p.Spec.Params = append(p.Spec.Params, tektonv1.ParamSpec{
		Name: "pull-request", Type: tektonv1.ParamTypeString, Description: "The pull request's number.",
	})
	return p
}
