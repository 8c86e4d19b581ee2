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
	"slipway.dev/slipway/engine/manifest"
)

// AnnotationRollbackPrefix starts the annotation that asks the deploy reconciler to re-deploy
// a Release to one environment: rollback.slipway.dev/<environment>, valued with the time of the
// request. The reconciler removes it once the Release is committed there.
const AnnotationRollbackPrefix = "rollback.slipway.dev/"

// ErrRollback is wrapped by every error that refuses a rollback request.
var ErrRollback = errors.New("rollback refused")

// History reads the config repo as it was at an earlier revision. The deploy reconciler's
// Committer must implement it for rollbacks (the config-repo committer does).
type History interface {
	ReadAt(ctx context.Context, revision, dir string) ([]manifest.File, error)
}

// RequestRollback asks for the Application's environment to run an earlier Release again:
// the Release named to, or, if to is empty, the newest Release deployed there before the
// current one. Only a Release that ran in the environment can be rolled back to: a rollback
// restores the manifests that Release committed there, configuration included, so the
// environment returns to a state it was in (a Release that never ran there is promoted
// instead). It checks the request, marks the Release for the deploy reconciler, which commits
// those manifests to the config repo again, and returns the Release chosen.
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
		if st := findEnv(r.Status.Environments, env); (st == nil || st.ConfigRevision == "") && r.Name != current {
			return nil, fmt.Errorf("%w: release %s never ran in %s, so there are no manifests of it to restore; promote it to %s instead",
				ErrRollback, to, env, env)
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

// rollback restores, in each environment in envs, the manifests rel committed there (read
// back from the config repo at the revision rel's status records), bypassing the out-of-order
// guard; records it on the Application and marks the Release it replaced, then removes the
// requests. A request that cannot be honoured (no such environment, or rel never ran there;
// RequestRollback refuses both) is dropped and logged.
func (r *Reconciler) rollback(ctx context.Context, app *v1alpha1.Application, rel *v1alpha1.Release, envs []string) error {
	for _, name := range envs {
		if !slices.ContainsFunc(app.Spec.Environments, func(e v1alpha1.Environment) bool { return e.Name == name }) {
			r.logger().Error("rollback to an environment the application does not have; request dropped",
				"application", app.Name, "release", rel.Name, "environment", name)
			continue
		}
		replaced := currentRelease(app, name)
		prev := findEnv(rel.Status.Environments, name)
		if prev == nil || prev.ConfigRevision == "" {
			r.logger().Error("rollback to a release that never ran in the environment; request dropped",
				"application", app.Name, "release", rel.Name, "environment", name)
			continue
		}
		rev, err := r.restore(ctx, app, name, rel, prev.ConfigRevision, replaced)
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

// restore commits again, to env's directory, the files it held at revision, when rel was
// deployed there, and returns the new revision.
func (r *Reconciler) restore(ctx context.Context, app *v1alpha1.Application, env string, rel *v1alpha1.Release, revision, replaced string) (string, error) {
	h, ok := r.Committer.(History)
	if !ok {
		return "", fmt.Errorf("roll %s back to %s in %s: the config-repo committer cannot read its history", app.Name, rel.Name, env)
	}
	dir := Dir(env, app.Name)
	files, err := h.ReadAt(ctx, revision, dir)
	if err != nil {
		return "", fmt.Errorf("roll %s back to %s in %s: read its manifests at %s: %w", app.Name, rel.Name, env, short(revision), err)
	}
	from := ""
	if replaced != "" {
		from = " from " + replaced
	}
	rev, err := r.Committer.Commit(ctx, Commit{
		Dir:     dir,
		Files:   files,
		Subject: fmt.Sprintf("Roll back %s in %s%s to %s (%s)", app.Name, env, from, rel.Name, short(rel.Spec.SourceSHA)),
		Trailers: [][2]string{
			{"Source-Commit", rel.Spec.SourceSHA},
			{"Image-Digest", rel.Spec.Image},
			{"Slipway-Delivery", rel.Spec.Delivery},
			{"Slipway-Release", rel.Name},
			{"Slipway-Restores", revision},
		},
	})
	if err != nil {
		return "", fmt.Errorf("commit the rollback of %s to %s in %s: %w", app.Name, rel.Name, env, err)
	}
	return rev, nil
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
