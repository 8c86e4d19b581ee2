// Package pipelines embeds Slipway's Tekton Pipelines (deploy and preview) and looks them up by
// name.
package pipelines

import (
	"embed"
	"fmt"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var files embed.FS

// Deploy is the name of the pipeline run for a push to an Application's tracked branch.
const Deploy = "slipway-deploy"

// Preview is the name of the pipeline run for a pull request's head commit.
const Preview = "slipway-preview"

var byName = map[string]string{
	Deploy:  "deploy.yaml",
	Preview: "preview.yaml",
}

// Names returns the names of the embedded pipelines.
func Names() []string {
	return []string{Deploy, Preview}
}

// Pipeline returns the embedded Pipeline with the given name.
func Pipeline(name string) (*tektonv1.Pipeline, error) {
	file, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("pipelines: no pipeline named %q", name)
	}
	data, err := files.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pipelines: read %s: %w", file, err)
	}
	var p tektonv1.Pipeline
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("pipelines: parse %s: %w", file, err)
	}
	return &p, nil
}
