package localkube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// InstallCRDs server-side applies the CustomResourceDefinitions in crdYAML (each argument may
// hold several YAML or JSON documents; empty documents are skipped) and waits until every one is
// Established. Documents of any other kind are an error, reported before anything is applied.
func InstallCRDs(ctx context.Context, cfg *rest.Config, crdYAML ...[]byte) error {
	docs, err := splitCRDs(crdYAML)
	if err != nil {
		return fmt.Errorf("install crds: %w", err)
	}
	cs, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("install crds: %w", err)
	}
	crds := cs.ApiextensionsV1().CustomResourceDefinitions()
	for _, d := range docs {
		_, err := crds.Patch(ctx, d.name, types.ApplyPatchType, d.json,
			metav1.PatchOptions{FieldManager: fieldManager, Force: new(true)})
		if err != nil {
			return fmt.Errorf("install crd %s: %w", d.name, err)
		}
	}
	for _, d := range docs {
		err := poll(ctx, func(ctx context.Context) (bool, error) {
			crd, err := crds.Get(ctx, d.name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return established(crd)
		})
		if err != nil {
			return fmt.Errorf("wait for crd %s to be Established: %w", d.name, err)
		}
	}
	return nil
}

// established reports the Established condition, failing fast when the names were rejected
// (that condition never recovers without a change to the CRD).
func established(crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	var est bool
	for _, c := range crd.Status.Conditions {
		switch {
		case c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue:
			est = true
		case c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse:
			return false, fmt.Errorf("names not accepted: %s", c.Message)
		}
	}
	return est, nil
}

type crdDoc struct {
	name string
	json []byte
}

// splitCRDs parses every document up front, so a bad document applies nothing.
func splitCRDs(inputs [][]byte) ([]crdDoc, error) {
	var docs []crdDoc
	for i, in := range inputs {
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(in)))
		for n := 0; ; n++ {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("input %d, document %d: %w", i, n, err)
			}
			js, err := yaml.YAMLToJSON(raw)
			if err != nil {
				return nil, fmt.Errorf("input %d, document %d: %w", i, n, err)
			}
			if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
				continue
			}
			var meta struct {
				metav1.TypeMeta `json:",inline"`
				Metadata        struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(js, &meta); err != nil {
				return nil, fmt.Errorf("input %d, document %d: %w", i, n, err)
			}
			if meta.APIVersion != "apiextensions.k8s.io/v1" || meta.Kind != "CustomResourceDefinition" {
				return nil, fmt.Errorf("input %d, document %d: %s %q is not an apiextensions.k8s.io/v1 CustomResourceDefinition",
					i, n, meta.Kind, meta.Metadata.Name)
			}
			if meta.Metadata.Name == "" {
				return nil, fmt.Errorf("input %d, document %d: CustomResourceDefinition without metadata.name", i, n)
			}
			docs = append(docs, crdDoc{name: meta.Metadata.Name, json: js})
		}
	}
	return docs, nil
}
