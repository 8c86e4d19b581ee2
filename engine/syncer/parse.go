package syncer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/manifest"
)

// pinned is an image reference pinned by digest.
var pinned = regexp.MustCompile(`^[^@\s]+@sha256:[a-f0-9]{64}$`)

// parse turns the config repo's files into objects. Files that are not YAML or JSON are
// skipped (a README next to the manifests is fine); anything else that does not parse names
// its file and document (counted from 1).
func parse(files []manifest.File) ([]*unstructured.Unstructured, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b manifest.File) int { return strings.Compare(a.Path, b.Path) })
	var objs []*unstructured.Unstructured
	seen := map[string]string{}
	for _, f := range files {
		if err := f.Validate(); err != nil {
			return nil, err
		}
		switch strings.ToLower(path.Ext(f.Path)) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(f.Data)))
		for doc := 1; ; doc++ {
			data, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f.Path, doc, err)
			}
			obj, err := decode(data)
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f.Path, doc, err)
			}
			if obj == nil {
				continue
			}
			key := obj.GroupVersionKind().GroupKind().String() + " " + obj.GetNamespace() + "/" + obj.GetName()
			if prev, dup := seen[key]; dup {
				return nil, fmt.Errorf("%s: document %d: %s is also defined in %s", f.Path, doc, key, prev)
			}
			seen[key] = fmt.Sprintf("%s document %d", f.Path, doc)
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// decode parses one document; an empty one (only comments or whitespace) gives nil.
func decode(data []byte) (*unstructured.Unstructured, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := yaml.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	obj := &unstructured.Unstructured{Object: m}
	switch {
	case obj.GetAPIVersion() == "":
		return nil, errors.New("missing apiVersion")
	case obj.GetKind() == "":
		return nil, errors.New("missing kind")
	case strings.HasSuffix(obj.GetKind(), "List"):
		return nil, fmt.Errorf("%s is not supported: write one object per document", obj.GetKind())
	case obj.GetName() == "":
		return nil, fmt.Errorf("%s without metadata.name", obj.GetKind())
	}
	return obj, nil
}

// images returns every container image in objs, sorted and unique. It looks at every list
// named containers, initContainers or ephemeralContainers anywhere in an object, so pod
// templates of custom resources are covered as well as those of Pods, Deployments and Jobs.
func images(objs []*unstructured.Unstructured) []string {
	set := map[string]bool{}
	for _, o := range objs {
		collectImages(o.Object, set)
	}
	out := make([]string, 0, len(set))
	for img := range set {
		out = append(out, img)
	}
	slices.Sort(out)
	return out
}

func collectImages(v any, set map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
				if list, ok := child.([]any); ok {
					for _, c := range list {
						if c, ok := c.(map[string]any); ok {
							if img, ok := c["image"].(string); ok {
								set[img] = true
							}
						}
					}
				}
			}
			collectImages(child, set)
		}
	case []any:
		for _, child := range v {
			collectImages(child, set)
		}
	}
}

// unpinned returns the images not pinned by digest.
func unpinned(imgs []string) []string {
	var out []string
	for _, img := range imgs {
		if !pinned.MatchString(img) {
			out = append(out, img)
		}
	}
	return out
}
