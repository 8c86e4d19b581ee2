package localkube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

// waitWorkloadReady finishes the tiers that run workloads: with kube-controller-manager it waits
// for the default ServiceAccount (Pods are rejected until it exists), and with kwok it applies
// the fake node and waits until kwok reports it Ready.
func (c *Cluster) waitWorkloadReady(ctx context.Context) error {
	comps := c.opts.Components
	if !comps.Has(ControllerManager) && !comps.Has(Kwok) {
		return nil
	}
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		return fmt.Errorf("workload readiness: %w", err)
	}
	if comps.Has(ControllerManager) {
		began := time.Now()
		err := poll(ctx, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, ignoreNotFound(err)
		})
		if err != nil {
			return fmt.Errorf("wait for the default service account: %w", err)
		}
		c.opts.Logger.Info("default service account ready", "duration", time.Since(began).Round(time.Millisecond))
	}
	if comps.Has(Kwok) {
		began := time.Now()
		if err := applyFakeNode(ctx, cs); err != nil {
			return err
		}
		err := poll(ctx, func(ctx context.Context) (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, FakeNodeName, metav1.GetOptions{})
			if err != nil {
				return false, ignoreNotFound(err)
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					return cond.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("wait for node %s to be Ready: %w", FakeNodeName, err)
		}
		c.opts.Logger.Info("fake node ready", "node", FakeNodeName, "duration", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// applyFakeNode server-side applies the Node that kwok manages (kwok only takes nodes carrying
// the annotation given to --manage-nodes-with-annotation-selector).
func applyFakeNode(ctx context.Context, cs kubernetes.Interface) error {
	node := corev1ac.Node(FakeNodeName).
		WithAnnotations(map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}).
		WithLabels(map[string]string{
			"kubernetes.io/hostname": FakeNodeName, "kubernetes.io/os": "linux",
			"kubernetes.io/arch": "amd64", "type": "kwok",
		})
	if _, err := cs.CoreV1().Nodes().Apply(ctx, node, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply node %s: %w", FakeNodeName, err)
	}
	return nil
}

// poll checks cond every 200 ms until it is true, fails, or ctx ends.
func poll(ctx context.Context, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, cond)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
