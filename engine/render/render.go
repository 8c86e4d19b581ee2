// Package render renders an application's Kubernetes manifests with Helm, from the embedded
// charts/app chart, offline and deterministically.
package render

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	corev1 "k8s.io/api/core/v1"
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

// Input is what the renderer needs to know about one application in one environment.
type Input struct {
	// App is the application's name, a DNS label.
	App string
	// Env is the environment's name, a DNS label.
	Env string
	// Namespace is the namespace everything is rendered into; it is rendered too.
	Namespace string
	// Image is the application's image pinned by digest: <repository>@sha256:<64 hex digits>.
	Image string
	// Services each become a Deployment and a Service.
	Services []Service
	// Labels are added to every object; the app.kubernetes.io/* and slipway.dev/* keys are
	// reserved.
	Labels map[string]string
}

// Service is one network-facing component.
type Service struct {
	// Name is the component's name, a DNS label; it names the Deployment and the Service.
	Name string
	// Port is the container port; 0 means the chart's default (8080).
	Port int32
	// Replicas is the number of pods; 0 is allowed and scales the service to zero.
	Replicas int32
	// Env is the runtime environment, in order.
	Env []EnvVar
	// HealthPath is the HTTP path probed for readiness and liveness; without one the probes
	// open a TCP connection to the port.
	HealthPath string
	// Resources are the container's requests and limits; empty means the chart's defaults.
	Resources corev1.ResourceRequirements
}

// EnvVar is a name and a literal value.
type EnvVar struct {
	Name  string
	Value string
}

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
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("render: parse kube version: %w", err)
	}
	caps.KubeVersion = *kv
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

// values turns in into the chart's values through JSON, so the templates see exactly what
// values.yaml would give them (maps, strings and numbers).
func (in Input) values() (map[string]any, error) {
	type env struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type svc struct {
		Name       string                       `json:"name"`
		Port       int32                        `json:"port"`
		Replicas   int32                        `json:"replicas"`
		Env        []env                        `json:"env"`
		HealthPath string                       `json:"healthPath"`
		Resources  *corev1.ResourceRequirements `json:"resources"`
	}
	v := struct {
		App      string            `json:"app"`
		Env      string            `json:"env"`
		Image    string            `json:"image"`
		Labels   map[string]string `json:"labels"`
		Services []svc             `json:"services"`
	}{App: in.App, Env: in.Env, Image: in.Image, Labels: in.Labels}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	for _, s := range in.Services {
		o := svc{Name: s.Name, Port: s.Port, Replicas: s.Replicas, HealthPath: s.HealthPath}
		for _, e := range s.Env {
			o.Env = append(o.Env, env(e))
		}
		if len(s.Resources.Requests) > 0 || len(s.Resources.Limits) > 0 || len(s.Resources.Claims) > 0 {
			o.Resources = &s.Resources
		}
		v.Services = append(v.Services, o)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode values: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode values: %w", err)
	}
	return m, nil
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
