package kubetest

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DryRunPod creates the pod template of Deployment deploy, as a Pod with the Deployment's name
// and namespace, as a server-side dry run: the namespace's Pod Security admission refuses it
// if its security context falls short.
func DryRunPod(ctx context.Context, c client.Client, deploy *unstructured.Unstructured) error {
	tmpl, ok, err := unstructured.NestedMap(deploy.Object, "spec", "template")
	if err != nil || !ok {
		return fmt.Errorf("deployment %s has no pod template: %v", deploy.GetName(), err)
	}
	pod := &unstructured.Unstructured{Object: tmpl}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetName(deploy.GetName())
	pod.SetNamespace(deploy.GetNamespace())
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		return fmt.Errorf("pod of deployment %s: %w", deploy.GetName(), err)
	}
	return nil
}
