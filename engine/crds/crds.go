// Package crds embeds the CustomResourceDefinitions a Slipway control plane needs: Slipway's own,
// generated from engine/api by controller-gen, and Tekton's, copied from the tektoncd/pipeline
// module by hack/generate.sh.
package crds

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed slipway/*.yaml tekton/*.yaml
var files embed.FS

// Slipway returns Slipway's CRD documents.
func Slipway() ([][]byte, error) { return read("slipway") }

// Tekton returns Tekton Pipelines' CRD documents.
func Tekton() ([][]byte, error) { return read("tekton") }

func read(dir string) ([][]byte, error) {
	names, err := fs.Glob(files, dir+"/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list %s CRDs: %w", dir, err)
	}
	sort.Strings(names)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read CRD %s: %w", n, err)
		}
		out = append(out, b)
	}
	return out, nil
}
