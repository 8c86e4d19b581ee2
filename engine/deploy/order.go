package deploy

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// newerDeployed guards against Releases that finish out of order: it returns the Release now
// deployed to env when that one is newer than rel, so rel must not replace it, and why.
//
// The rule, for two Releases of the same Application and the same ref (Releases of different
// refs, or of the same commit, are not ordered and deploy as they finish):
//  1. the ref's chain, from the push events' before/after commits: if the deployed Release's
//     Delivery moved the ref from rel's commit, the deployed one is newer; if rel's Delivery
//     moved it from the deployed one's commit, rel is newer;
//  2. otherwise the Deliveries' receive times: the later push is newer;
//  3. on a tie (receive times have one-second resolution) or when a Delivery is gone (deleted
//     by retention), rel deploys, as the one that finished last.
func (r *Reconciler) newerDeployed(ctx context.Context, app *v1alpha1.Application, env string, rel *v1alpha1.Release) (*v1alpha1.Release, string, error) {
	cur := currentRelease(app, env)
	if cur == "" || cur == rel.Name {
		return nil, "", nil
	}
	var deployed v1alpha1.Release
	if err := r.reader().Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: cur}, &deployed); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("get deployed release %s: %w", cur, err)
	}
	if deployed.Spec.Ref == "" || deployed.Spec.Ref != rel.Spec.Ref || deployed.Spec.SourceSHA == rel.Spec.SourceSHA {
		return nil, "", nil
	}
	curD, err := r.delivery(ctx, rel.Namespace, deployed.Spec.Delivery)
	if err != nil {
		return nil, "", err
	}
	relD, err := r.delivery(ctx, rel.Namespace, rel.Spec.Delivery)
	if err != nil {
		return nil, "", err
	}
	switch {
	case curD != nil && curD.Spec.Before == rel.Spec.SourceSHA:
		return &deployed, fmt.Sprintf("its push %s moved %s on from %s", short(deployed.Spec.SourceSHA), rel.Spec.Ref, short(rel.Spec.SourceSHA)), nil
	case relD != nil && relD.Spec.Before == deployed.Spec.SourceSHA:
		return nil, "", nil
	case curD != nil && relD != nil && curD.Spec.ReceivedAt.After(relD.Spec.ReceivedAt.Time):
		return &deployed, fmt.Sprintf("its push to %s was received later (%s, after %s)", rel.Spec.Ref,
			curD.Spec.ReceivedAt.UTC().Format("15:04:05"), relD.Spec.ReceivedAt.UTC().Format("15:04:05")), nil
	}
	return nil, "", nil
}

// delivery returns the named Delivery, or nil if there is none.
func (r *Reconciler) delivery(ctx context.Context, ns, name string) (*v1alpha1.Delivery, error) {
	if name == "" {
		return nil, nil
	}
	var d v1alpha1.Delivery
	if err := r.reader().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get delivery %s: %w", name, err)
	}
	return &d, nil
}

// currentRelease is the Release the Application's status says runs in env.
func currentRelease(app *v1alpha1.Application, env string) string {
	for _, e := range app.Status.Environments {
		if e.Name == env {
			return e.Release
		}
	}
	return ""
}

// reader reads what the guard and rollbacks decide on: APIReader if set, so that a status
// written a moment ago is never missed through a lagging cache, else Client.
func (r *Reconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}
