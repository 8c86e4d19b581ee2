// Package catalog embeds Slipway's Tekton Tasks and looks them up by name and version.
package catalog

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

//go:embed */*/*.yaml
var tasks embed.FS

// StepImage is the image of Slipway's own steps; the local runner maps it to the slipway binary.
const StepImage = "slipway.dev/steps"

// Ref names one Task of the catalog.
type Ref struct {
	Name    string
	Version string
}

// List returns every Task in the catalog, sorted by name and version.
func List() ([]Ref, error) {
	var refs []Ref
	err := fs.WalkDir(tasks, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		parts := strings.Split(p, "/")
		if len(parts) == 3 && parts[2] == parts[0]+".yaml" {
			refs = append(refs, Ref{Name: parts[0], Version: parts[1]})
		}
		return nil
	})
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Name != refs[j].Name {
			return refs[i].Name < refs[j].Name
		}
		return refs[i].Version < refs[j].Version
	})
	return refs, err
}

// Task returns the Task with the given name. An empty version means the newest one.
func Task(name, version string) (*tektonv1.Task, error) {
	if version == "" {
		refs, err := List()
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			if r.Name == name {
				version = r.Version
			}
		}
		if version == "" {
			return nil, fmt.Errorf("catalog: no task named %q", name)
		}
	}
	data, err := tasks.ReadFile(path.Join(name, version, name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("catalog: no task %s version %s", name, version)
	}
	var t tektonv1.Task
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("catalog: parse task %s/%s: %w", name, version, err)
	}
	return &t, nil
}
