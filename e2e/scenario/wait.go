package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// Until polls cond every 100 ms until it returns true or an error, or ctx ends. what names the
// wait in the error.
func Until(ctx context.Context, what string, cond func(ctx context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := cond(ctx)
		if err != nil {
			last = err
		} else if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Application returns a minimal Application for the hello app.
func Application(ns, name, repoURL, secretName string) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Source: v1alpha1.SourceSpec{Provider: "github", RepoURL: repoURL, Branch: "main",
				WebhookSecrets: []v1alpha1.SecretKeyRef{{Name: secretName, Key: "secret"}}},
			Build:        v1alpha1.BuildSpec{Strategy: v1alpha1.BuildKo},
			Services:     []v1alpha1.Service{{Name: "web", Port: 8080, HealthPath: "/healthz"}},
			Environments: []v1alpha1.Environment{{Name: "dev"}},
		},
	}
}

// CreateApp creates the webhook secret and the Application.
func CreateApp(ctx context.Context, c client.Client, app *v1alpha1.Application, secret []byte) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Spec.Source.WebhookSecrets[0].Name},
		Data: map[string][]byte{"secret": secret}}
	if err := c.Create(ctx, s); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create webhook secret: %w", err)
	}
	if err := c.Create(ctx, app); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create application: %w", err)
	}
	return nil
}

// RunsFor lists the PipelineRuns a Delivery triggered.
func RunsFor(ctx context.Context, c client.Client, ns, delivery string) ([]tektonv1.PipelineRun, error) {
	var list tektonv1.PipelineRunList
	err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelDelivery: delivery})
	return list.Items, err
}

// DeploymentAvailable reports whether the Deployment exists, runs image and is Available.
func DeploymentAvailable(ctx context.Context, c client.Client, ns, name, image string) (bool, error) {
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if image != "" && (len(d.Spec.Template.Spec.Containers) == 0 || d.Spec.Template.Spec.Containers[0].Image != image) {
		return false, nil
	}
	if d.Status.ObservedGeneration < d.Generation {
		return false, nil
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
			return d.Status.UpdatedReplicas == *d.Spec.Replicas, nil
		}
	}
	return false, nil
}
