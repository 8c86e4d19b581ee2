package trigger_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/trigger"
)

// BenchmarkDeployRun generates the deploy PipelineRun for one push, including Tekton's defaulting
// and validation and the check of its params against the deploy pipeline.
func BenchmarkDeployRun(b *testing.B) {
	d := &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: "slipway", Name: "github-0b8f1c2e-6f3a-4d3e-9c1a-2f0e4b5d6a7c"},
		Spec: v1alpha1.DeliverySpec{Provider: "github", Event: "push", Ref: "refs/heads/main",
			RepoURL: "http://127.0.0.1:3000/hello.git", Before: "9049f1265b7d61be4a8904a9a27120d2064dab3b",
			After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
	}
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "slipway", Name: "hello"},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: d.Spec.RepoURL, Branch: "main"},
			Build:        v1alpha1.BuildSpec{Strategy: v1alpha1.BuildKo},
			Services:     []v1alpha1.Service{{Name: "web", Port: 8080, HealthPath: "/healthz"}},
			Environments: []v1alpha1.Environment{{Name: "dev"}},
		},
	}
	cfg := trigger.Config{Registry: "127.0.0.1:5001", InsecureRegistry: true, Executor: trigger.ExecutorLocal,
		BaseImage: "127.0.0.1:5001/base/static@sha256:" + "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"}
	for b.Loop() {
		if _, err := trigger.DeployRun(b.Context(), d, app, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
