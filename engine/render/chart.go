package render

import (
	"fmt"
	"io/fs"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/engine"

	"slipway.dev/slipway/engine/manifest"
)

// Release names a chart installation: what `helm install NAME --namespace NAMESPACE` names.
type Release struct {
	Name      string
	Namespace string
}

// RenderChart renders the chart rooted at dir in fsys the way `helm template` does: values
// are coalesced over the chart's values.yaml and checked against its values.schema.json, and
// a template that reads a key nobody set fails. It returns one canonical file per object, as
// Render does; CRDs under the chart's crds/ directory are not rendered.
func RenderChart(fsys fs.FS, dir string, rel Release, values map[string]any) ([]manifest.File, error) {
	chrt, err := loadChart(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	caps, err := capabilities()
	if err != nil {
		return nil, err
	}
	top, err := util.ToRenderValuesWithSchemaValidation(chrt, values,
		common.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, IsInstall: true, Revision: 1}, caps, false)
	if err != nil {
		return nil, fmt.Errorf("chart %s values: %w", chrt.Name(), err)
	}
	out, err := engine.Engine{Strict: true}.Render(chrt, top)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", chrt.Name(), err)
	}
	files, err := split(out)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", chrt.Name(), err)
	}
	return files, nil
}

// LintChart runs Helm's chart linter (`helm lint`) over the chart directory dir on disk with
// values, and returns its warnings and errors; none means the chart is clean.
func LintChart(dir, namespace string, values map[string]any) []string {
	kv, _ := common.ParseKubeVersion(KubeVersion)
	res := lint.RunAll(dir, values, namespace, lint.WithKubeVersion(kv))
	var msgs []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			msgs = append(msgs, m.Error())
		}
	}
	return msgs
}

// capabilities are the fixed capabilities every render sees.
func capabilities() (*common.Capabilities, error) {
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("parse kube version: %w", err)
	}
	caps.KubeVersion = *kv
	return caps, nil
}
