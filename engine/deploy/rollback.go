package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// AnnotationRollbackPrefix starts the annotation that asks the deploy reconciler to re-deploy
// a Release to one environment: rollback.slipway.dev/<environment>, valued with the time of the
// request. The reconciler removes it once the Release is committed there.
const AnnotationRollbackPrefix = "rollback.slipway.dev/"

// ErrRollback is wrapped by every error that refuses a rollback request.
var ErrRollback = errors.New("rollback refused")

// RequestRollback asks for the Application's environment to run an earlier Release again:
// the Release named to, or, if to is empty, the newest Release deployed there before the
// current one. It checks the request, marks the Release for the deploy reconciler, which
// commits the Release's manifests to the config repo, and returns the Release chosen.
func RequestRollback(ctx context.Context, c client.Client, namespace, app, env, to string) (*v1alpha1.Release, error) {
	var a v1alpha1.Application
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: app}, &a); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: application %q not found in namespace %q", ErrRollback, app, namespace)
		}
		return nil, fmt.Errorf("get application %s: %w", app, err)
	}
	if !slices.ContainsFunc(a.Spec.Environments, func(e v1alpha1.Environment) bool { return e.Name == env }) {
		var names []string
		for _, e := range a.Spec.Environments {
			names = append(names, e.Name)
		}
		return nil, fmt.Errorf("%w: application %s has no environment %q (it has: %s)", ErrRollback, app, env, strings.Join(names, ", "))
	}
	current := currentRelease(&a, env)
	var rel *v1alpha1.Release
	if to != "" {
		var r v1alpha1.Release
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: to}, &r); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("%w: release %q not found in namespace %q", ErrRollback, to, namespace)
			}
			return nil, fmt.Errorf("get release %s: %w", to, err)
		}
		if r.Spec.Application != app {
			return nil, fmt.Errorf("%w: release %s belongs to application %s, not %s", ErrRollback, to, r.Spec.Application, app)
		}
		rel = &r
	} else {
		var err error
		if rel, err = previousRelease(ctx, c, namespace, app, env, current); err != nil {
			return nil, err
		}
	}
	if rel.Name == current {
		return nil, fmt.Errorf("%w: release %s is already deployed to %s", ErrRollback, rel.Name, env)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationRollbackPrefix + env: time.Now().UTC().Format(time.RFC3339Nano)}}})
	if err != nil {
		return nil, err
	}
	if err := c.Patch(ctx, rel, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return nil, fmt.Errorf("request rollback of %s to %s: %w", env, rel.Name, err)
	}
	return rel, nil
}

// previousRelease is the newest of app's Releases that was deployed to env and is older than
// current (by creation time, then name).
func previousRelease(ctx context.Context, c client.Client, namespace, app, env, current string) (*v1alpha1.Release, error) {
	if current == "" {
		return nil, fmt.Errorf("%w: nothing of %s is deployed to %s yet", ErrRollback, app, env)
	}
	var list v1alpha1.ReleaseList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var cur *v1alpha1.Release
	var deployed []*v1alpha1.Release
	for i := range list.Items {
		r := &list.Items[i]
		if r.Spec.Application != app {
			continue
		}
		if r.Name == current {
			cur = r
			continue
		}
		if st := findEnv(r.Status.Environments, env); st != nil && st.ConfigRevision != "" {
			deployed = append(deployed, r)
		}
	}
	older := func(a, b *v1alpha1.Release) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	}
	slices.SortFunc(deployed, older)
	for _, r := range slices.Backward(deployed) {
		if cur == nil || older(r, cur) < 0 {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: no release of %s older than %s was deployed to %s; name one with --to", ErrRollback, app, current, env)
}

// rollbackRequests are the environments rel is asked to be rolled back to, sorted.
func rollbackRequests(rel *v1alpha1.Release) []string {
	var envs []string
	for k := range rel.Annotations {
		if env, ok := strings.CutPrefix(k, AnnotationRollbackPrefix); ok && env != "" {
			envs = append(envs, env)
		}
	}
	slices.Sort(envs)
	return envs
}

// rollback commits rel to each environment in envs, bypassing the out-of-order guard, records
// it on the Application and marks the Release it replaced, then removes the requests.
func (r *Reconciler) rollback(ctx context.Context, app *v1alpha1.Application, rel *v1alpha1.Release, envs []string) error {
	for _, name := range envs {
		i := slices.IndexFunc(app.Spec.Environments, func(e v1alpha1.Environment) bool { return e.Name == name })
		if i < 0 {
			r.logger().Error("rollback to an environment the application does not have; request dropped",
				"application", app.Name, "release", rel.Name, "environment", name)
			continue
		}
		env := app.Spec.Environments[i]
		replaced := currentRelease(app, name)
		rev, err := r.commit(ctx, app, env, rel)
		if err != nil {
			return err
		}
		now := metav1.Now()
		msg := "rolled back to this release"
		if replaced != "" {
			msg = "rolled back from " + replaced
		}
		setEnv(&rel.Status.Environments, v1alpha1.ReleaseEnvironment{Name: name, Phase: PhaseCommitted, ConfigRevision: rev, Message: msg, UpdatedAt: &now})
		meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProgressing, Message: "rolled back in " + name + ", waiting for sync"})
		if err := r.Client.Status().Update(ctx, rel); err != nil {
			return fmt.Errorf("update release %s status: %w", rel.Name, err)
		}
		if err := r.recordOnApp(ctx, app, name, rel, rev, false); err != nil {
			return err
		}
		if replaced != "" && replaced != rel.Name {
			if err := r.markRolledBack(ctx, rel.Namespace, replaced, name, rel.Name); err != nil {
				return err
			}
		}
		r.logger().Info("rolled back", "application", app.Name, "environment", name, "release", rel.Name, "replaced", replaced, "revision", rev)
	}
	if r.Notifier != nil {
		r.Notifier.Notify()
	}
	remove := map[string]any{}
	for _, env := range envs {
		remove[AnnotationRollbackPrefix+env] = nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": remove}})
	if err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, rel, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("clear rollback request on %s: %w", rel.Name, err)
	}
	return nil
}

// markRolledBack records on the replaced Release that it no longer runs in env.
func (r *Reconciler) markRolledBack(ctx context.Context, ns, name, env, by string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var old v1alpha1.Release
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &old); err != nil {
			return client.IgnoreNotFound(err)
		}
		st := findEnv(old.Status.Environments, env)
		if st == nil {
			return nil
		}
		now := metav1.Now()
		st.Phase, st.Message, st.UpdatedAt = PhaseRolledBack, "rolled back to "+by, &now
		return r.Client.Status().Update(ctx, &old)
	})
	if err != nil {
		return fmt.Errorf("update release %s status: %w", name, err)
	}
	return nil
}
