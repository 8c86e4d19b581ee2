// Package render renders an application's Kubernetes manifests with Helm, from the embedded
// charts/app chart, offline and deterministically.
package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/charts"
	"slipway.dev/slipway/engine/manifest"
)

// KubeVersion is the Kubernetes version templates see as .Capabilities.KubeVersion. Rendering
// never asks a cluster, so the same input gives the same bytes everywhere.
const KubeVersion = "v1.36.0"

// ErrInvalidInput is wrapped by every error about the Input itself (as opposed to the chart).
var ErrInvalidInput = errors.New("invalid render input")

// Render renders in with the embedded chart and returns one file per object, named
// <kind>-<name>.yaml (namespace.yaml for the namespace), sorted by path. The bytes are
// canonical YAML (sorted keys), so equal inputs give equal files.
func Render(in Input) ([]manifest.File, error) {
	if err := in.validate(); err != nil {
		return nil, fmt.Errorf("render %s/%s: %w: %w", in.App, in.Env, ErrInvalidInput, err)
	}
	return renderChart(in)
}

// renderChart renders a validated in with the embedded chart.
func renderChart(in Input) ([]manifest.File, error) {
	chrt, err := loadChart(charts.App, "app")
	if err != nil {
		return nil, fmt.Errorf("render %s/%s: load chart: %w", in.App, in.Env, err)
	}
	vals, err := in.values()
	if err != nil {
		return nil, fmt.Errorf("render %s/%s: %w", in.App, in.Env, err)
	}
	caps, err := capabilities()
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	// The render values are built here rather than with Helm's chartutil helpers: those also
	// validate values against JSON schemas, which the input validation above already covers.
	acc, err := ci.NewAccessor(chrt)
	if err != nil {
		return nil, fmt.Errorf("render: chart accessor: %w", err)
	}
	meta := acc.MetadataAsMap()
	meta["IsRoot"] = true
	top := common.Values{
		"Chart":        meta,
		"Capabilities": caps,
		"Release": map[string]any{
			"Name": in.App + "-" + in.Env, "Namespace": in.Namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Values": common.Values(loader.MergeMaps(chrt.Values, vals)),
	}
	// Strict: a template that reads a value nobody set is a chart bug, not an empty string.
	out, err := engine.Engine{Strict: true}.Render(chrt, top)
	if err != nil {
		return nil, fmt.Errorf("render %s/%s: %w", in.App, in.Env, err)
	}
	files, err := split(out)
	if err != nil {
		return nil, fmt.Errorf("render %s/%s: %w", in.App, in.Env, err)
	}
	return files, nil
}

// loadChart loads the chart rooted at dir in fsys, the way helm loads a chart directory.
func loadChart(fsys fs.FS, dir string) (*chartv2.Chart, error) {
	var files []*archive.BufferedFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: strings.TrimPrefix(p, dir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return loader.LoadFiles(files)
}

// split turns Helm's output (template name -> text) into one canonical file per object.
func split(rendered map[string]string) ([]manifest.File, error) {
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		if path.Ext(n) == ".yaml" || path.Ext(n) == ".yml" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	byPath := map[string]string{}
	var files []manifest.File
	for _, n := range names {
		r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered[n])))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: read document %d: %w", n, i, err)
			}
			f, ok, err := canonical(doc)
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", n, i, err)
			}
			if !ok {
				continue
			}
			if prev, dup := byPath[f.Path]; dup {
				return nil, fmt.Errorf("%s: document %d: %s is also rendered by %s", n, i, f.Path, prev)
			}
			byPath[f.Path] = n
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b manifest.File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// canonical parses one YAML document and re-encodes it with sorted keys. Empty documents
// (a template whose condition was false) report ok == false.
func canonical(doc []byte) (manifest.File, bool, error) {
	if len(bytes.TrimSpace(stripComments(doc))) == 0 {
		return manifest.File{}, false, nil
	}
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return manifest.File{}, false, fmt.Errorf("parse: %w", err)
	}
	if len(obj) == 0 {
		return manifest.File{}, false, nil
	}
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if kind == "" || name == "" {
		return manifest.File{}, false, fmt.Errorf("object without kind or metadata.name")
	}
	p := strings.ToLower(kind) + "-" + name + ".yaml"
	if kind == "Namespace" {
		p = "namespace.yaml"
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		return manifest.File{}, false, fmt.Errorf("encode %s: %w", p, err)
	}
	f := manifest.File{Path: p, Data: data}
	if err := f.Validate(); err != nil {
		return manifest.File{}, false, err
	}
	return f, true, nil
}

// stripComments drops whole-line YAML comments, which Helm leaves in documents whose
// content was templated away.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		b.Write(line)
	}
	return b.Bytes()
}
