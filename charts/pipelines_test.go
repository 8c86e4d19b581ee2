package charts_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"slipway.dev/slipway/engine/render"
)

// controllerEnv returns the controller container's environment as rendered with values.
func controllerEnv(t *testing.T, values map[string]any) map[string]string {
	t.Helper()
	for _, f := range renderSlipway(t, values) {
		u := decode(t, f)
		if u.GetKind() != "Deployment" || u.GetName() != "slipway-controller" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		env := map[string]string{}
		for _, e := range containers[0].(map[string]any)["env"].([]any) {
			kv := e.(map[string]any)
			if v, ok := kv["value"].(string); ok {
				env[kv["name"].(string)] = v
			}
		}
		return env
	}
	t.Fatal("no controller Deployment rendered")
	return nil
}

// TestControllerPipelineSettings checks what the chart tells the controller about the pipelines:
// the step image is Slipway's own image by digest, and the pipelines' ServiceAccount is the
// chart's unless the operator names one.
func TestControllerPipelineSettings(t *testing.T) {
	env := controllerEnv(t, minimalValues())
	if got, want := env["SLIPWAY_STEP_IMAGE"], "registry.example.com/slipway/slipway@"+digest; got != want {
		t.Errorf("SLIPWAY_STEP_IMAGE = %q, want %q", got, want)
	}
	if got := env["SLIPWAY_PIPELINE_SERVICE_ACCOUNT"]; got != "slipway-pipeline" {
		t.Errorf("SLIPWAY_PIPELINE_SERVICE_ACCOUNT = %q, want slipway-pipeline", got)
	}
	v := minimalValues()
	v["pipelines"] = map[string]any{"serviceAccount": "builder"}
	if got := controllerEnv(t, v)["SLIPWAY_PIPELINE_SERVICE_ACCOUNT"]; got != "builder" {
		t.Errorf("SLIPWAY_PIPELINE_SERVICE_ACCOUNT = %q with pipelines.serviceAccount builder", got)
	}
	v["pipelines"] = map[string]any{"serviceAccount": "Build Bot"}
	if _, err := render.RenderChart(os.DirFS("."), chartDir, rel, v); err == nil || !strings.Contains(err.Error(), "/pipelines/serviceAccount") {
		t.Errorf("pipelines.serviceAccount \"Build Bot\": err = %v, want it to name /pipelines/serviceAccount", err)
	}
}

// TestControllerInstallsNoMoreThanItNeeds: the controller may write Tekton Pipelines and Tasks
// (it installs them) and create ServiceAccounts, but never update, bind or delete accounts.
func TestControllerInstallsNoMoreThanItNeeds(t *testing.T) {
	for _, f := range renderSlipway(t, minimalValues()) {
		u := decode(t, f)
		if u.GetKind() != "ClusterRole" || u.GetName() != "slipway-controller" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
		var tekton, accounts []string
		for _, r := range rules {
			rule := r.(map[string]any)
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
			if slices.Contains(resources, "tasks") {
				tekton = verbs
			}
			if slices.Contains(resources, "serviceaccounts") {
				accounts = verbs
			}
		}
		if !slices.Contains(tekton, "patch") || !slices.Contains(tekton, "delete") {
			t.Errorf("controller may %v tasks; it applies and prunes them", tekton)
		}
		if !slices.Equal(accounts, []string{"create"}) {
			t.Errorf("controller may %v serviceaccounts, want create only", accounts)
		}
		return
	}
	t.Fatal("no controller ClusterRole rendered")
}
