package catalog_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/catalog"
)

// TestCosignSignSamples checks both sample runs of cosign-sign with Tekton's own validation and
// against the task: each binds declared workspaces and params only, one signing credential
// each, and the keyless one binds the identity token as a projected ServiceAccount token with
// Fulcio's audience at the path the step reads.
func TestCosignSignSamples(t *testing.T) {
	ctx := context.Background()
	task, err := catalog.Task("cosign-sign", "0.1")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, w := range task.Spec.Workspaces {
		declared["workspace "+w.Name] = true
	}
	for _, p := range task.Spec.Params {
		declared["param "+p.Name] = true
	}
	args := strings.Join(task.Spec.Steps[0].Args, " ")
	for _, want := range []string{"--key-dir=$(workspaces.signing-key.path)", "--identity-token-dir=$(workspaces.identity-token.path)", "--fulcio-url=$(params.fulcio-url)"} {
		if !strings.Contains(args, want) {
			t.Errorf("sign step args %q lack %s", args, want)
		}
	}
	for _, tc := range []struct {
		file       string
		credential string
		params     []string
	}{
		{"run.yaml", "signing-key", nil},
		{"run-keyless.yaml", "identity-token", []string{"fulcio-url"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile("cosign-sign/0.1/samples/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var tr tektonv1.TaskRun
			if err := yaml.UnmarshalStrict(data, &tr); err != nil {
				t.Fatal(err)
			}
			tr.SetDefaults(ctx)
			if err := tr.Validate(ctx); err != nil {
				t.Fatalf("Tekton rejects the sample: %v", err)
			}
			var bound []string
			for _, w := range tr.Spec.Workspaces {
				if !declared["workspace "+w.Name] {
					t.Errorf("binds undeclared workspace %s", w.Name)
				}
				if w.Name == "signing-key" || w.Name == "identity-token" {
					bound = append(bound, w.Name)
				}
				if w.Name == "identity-token" {
					checkProjectedToken(t, w)
				}
			}
			if !slices.Equal(bound, []string{tc.credential}) {
				t.Errorf("binds credentials %v, want %s only", bound, tc.credential)
			}
			for _, p := range tr.Spec.Params {
				if !declared["param "+p.Name] {
					t.Errorf("sets undeclared param %s", p.Name)
				}
			}
			for _, want := range tc.params {
				if !slices.ContainsFunc(tr.Spec.Params, func(p tektonv1.Param) bool { return p.Name == want && p.Value.StringVal != "" }) {
					t.Errorf("does not set %s", want)
				}
			}
		})
	}
}

func checkProjectedToken(t *testing.T, w tektonv1.WorkspaceBinding) {
	t.Helper()
	if w.Projected == nil || len(w.Projected.Sources) != 1 || w.Projected.Sources[0].ServiceAccountToken == nil {
		t.Fatalf("identity-token is %+v, want a projected ServiceAccount token", w)
	}
	sat := w.Projected.Sources[0].ServiceAccountToken
	if sat.Audience != "sigstore" || sat.Path != "token" {
		t.Errorf("projected token audience %q path %q, want Fulcio's audience sigstore at token", sat.Audience, sat.Path)
	}
}
