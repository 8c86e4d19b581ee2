// Package deploy commits each new Release to the config repo for the environments that deploy
// automatically, and records where it went.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/manifest"
)

// Phases of a Release in one environment.
const (
	PhaseCommitted = "Committed"
	PhaseSynced    = "Synced"
	PhaseAvailable = "Available"
	PhaseRefused   = "Refused"
	PhaseFailed    = "Failed"
	// PhaseSuperseded: not deployed, because a newer Release of the same ref already runs
	// there (the Releases finished out of order).
	PhaseSuperseded = "Superseded"
	// PhaseRolledBack: deployed once, then replaced by a rollback to an earlier Release.
	PhaseRolledBack = "RolledBack"
)

// Renderer renders an Application's manifests for one environment and image.
type Renderer interface {
	Render(ctx context.Context, app *v1alpha1.Application, env v1alpha1.Environment, image string) ([]manifest.File, error)
}

// Commit is one change to the config repo: Dir replaced by Files.
type Commit struct {
	Dir      string
	Files    []manifest.File
	Subject  string
	Trailers [][2]string
}

// Committer writes a Commit and returns the config-repo revision that holds it. Writing the same
// content twice returns the existing revision and makes no new commit.
type Committer interface {
	Commit(ctx context.Context, c Commit) (revision string, err error)
}

// Notifier is told after a commit so that the syncer need not wait for its interval.
type Notifier interface {
	Notify(names ...string)
}

// Reconciler deploys Releases.
type Reconciler struct {
	Client    client.Client
	Renderer  Renderer
	Committer Committer
	Notifier  Notifier
	Log       *slog.Logger
	// APIReader, if set, reads the Application, Releases and Deliveries that the out-of-order
	// guard and rollbacks decide on without the cache (for example the manager's
	// GetAPIReader()), so a deployment recorded a moment earlier is never missed.
	APIReader client.Reader
}

// SetupWithManager registers the reconciler with a controller-runtime manager.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("deploy").
		For(&v1alpha1.Release{}).
		Complete(r)
}

// Dir is the config-repo directory of an Application in an environment.
func Dir(env, app string) string {
	return "environments/" + env + "/" + app
}

// Namespace is the namespace an Application runs in for one environment.
func Namespace(app *v1alpha1.Application, env v1alpha1.Environment) string {
	if env.Namespace != "" {
		return env.Namespace
	}
	return app.Name + "-" + env.Name
}

// AutoEnvironments are the environments a new Release goes to without a Promotion: the first
// environment unless it asks for approval, and any other that sets autoDeploy without approval.
func AutoEnvironments(app *v1alpha1.Application) []v1alpha1.Environment {
	var out []v1alpha1.Environment
	for i, e := range app.Spec.Environments {
		if e.Approval == nil && (i == 0 || e.AutoDeploy) {
			out = append(out, e)
		}
	}
	return out
}

// Reconcile commits a Release to each automatic environment it has not reached yet.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rel v1alpha1.Release
	if err := r.Client.Get(ctx, req.NamespacedName, &rel); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var app v1alpha1.Application
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: rel.Spec.Application}, &app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := r.logger().With("application", app.Name, "release", rel.Name)
	if s := rel.Spec.Scan; s != nil && !s.Passed {
		// The scan stopped this image: it is recorded for people to see, never deployed, not
		// even by a rollback.
		log.Info("release blocked by its vulnerability scan; not deployed")
		return ctrl.Result{}, nil
	}
	if envs := rollbackRequests(&rel); len(envs) > 0 {
		return ctrl.Result{}, r.rollback(ctx, &app, &rel, envs)
	}

	committed := false
	for _, env := range AutoEnvironments(&app) {
		if st := findEnv(rel.Status.Environments, env.Name); st != nil && st.Phase != "" && st.Phase != PhaseFailed {
			continue
		}
		skipped, err := r.skipOutOfOrder(ctx, &app, env.Name, &rel)
		if err != nil {
			return ctrl.Result{}, err
		}
		if skipped {
			continue
		}
		rev, err := r.commit(ctx, &app, env, &rel)
		now := metav1.Now()
		if err != nil {
			setEnv(&rel.Status.Environments, v1alpha1.ReleaseEnvironment{Name: env.Name, Phase: PhaseFailed, Message: err.Error(), UpdatedAt: &now})
			meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
				Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonFailed, Message: err.Error()})
			if uerr := r.Client.Status().Update(ctx, &rel); uerr != nil {
				return ctrl.Result{}, errors.Join(err, uerr)
			}
			return ctrl.Result{}, err
		}
		log.Info("release committed", "environment", env.Name, "revision", rev)
		setEnv(&rel.Status.Environments, v1alpha1.ReleaseEnvironment{Name: env.Name, Phase: PhaseCommitted, ConfigRevision: rev, UpdatedAt: &now})
		meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProgressing, Message: "committed to " + env.Name + ", waiting for sync"})
		if err := r.Client.Status().Update(ctx, &rel); err != nil {
			return ctrl.Result{}, fmt.Errorf("update release %s status: %w", rel.Name, err)
		}
		if err := r.recordOnApp(ctx, &app, env.Name, &rel, rev, true); err != nil {
			return ctrl.Result{}, err
		}
		committed = true
	}
	if committed && r.Notifier != nil {
		r.Notifier.Notify()
	}
	return ctrl.Result{}, nil
}

// skipOutOfOrder records rel as Superseded in env, and reports true, when a newer Release of
// the same ref already runs there.
func (r *Reconciler) skipOutOfOrder(ctx context.Context, app *v1alpha1.Application, env string, rel *v1alpha1.Release) (bool, error) {
	var fresh v1alpha1.Application
	if err := r.reader().Get(ctx, client.ObjectKeyFromObject(app), &fresh); err != nil {
		return false, fmt.Errorf("get application %s: %w", app.Name, err)
	}
	newer, why, err := r.newerDeployed(ctx, &fresh, env, rel)
	if err != nil || newer == nil {
		return false, err
	}
	now := metav1.Now()
	msg := fmt.Sprintf("not deployed to %s: the newer release %s (%s) already runs there; %s", env, newer.Name, short(newer.Spec.SourceSHA), why)
	r.logger().Info("release finished out of order, not deployed", "application", app.Name, "release", rel.Name, "environment", env, "newer", newer.Name)
	setEnv(&rel.Status.Environments, v1alpha1.ReleaseEnvironment{Name: env, Phase: PhaseSuperseded, Message: msg, UpdatedAt: &now})
	meta.SetStatusCondition(&rel.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
		Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSuperseded, Message: msg})
	if err := r.Client.Status().Update(ctx, rel); err != nil {
		return false, fmt.Errorf("update release %s status: %w", rel.Name, err)
	}
	return true, nil
}

func (r *Reconciler) commit(ctx context.Context, app *v1alpha1.Application, env v1alpha1.Environment, rel *v1alpha1.Release) (string, error) {
	files, err := r.Renderer.Render(ctx, app, env, rel.Spec.Image)
	if err != nil {
		return "", fmt.Errorf("render %s for %s: %w", app.Name, env.Name, err)
	}
	rev, err := r.Committer.Commit(ctx, Commit{
		Dir:     Dir(env.Name, app.Name),
		Files:   files,
		Subject: fmt.Sprintf("Deploy %s %s to %s", app.Name, short(rel.Spec.SourceSHA), env.Name),
		Trailers: [][2]string{
			{"Source-Commit", rel.Spec.SourceSHA},
			{"Image-Digest", rel.Spec.Image},
			{"Slipway-Delivery", rel.Spec.Delivery},
			{"Slipway-Release", rel.Name},
		},
	})
	if err != nil {
		return "", fmt.Errorf("commit %s to %s: %w", app.Name, env.Name, err)
	}
	return rev, nil
}

// recordOnApp records the commit on the Application's status. It re-reads the Application and
// retries on conflict: the syncer writes the same status, and giving up here would lose the record
// for good, because the Release already says Committed and the retry skips the environment.
//
// latest also makes rel the Application's latest release; a rollback leaves that alone.
func (r *Reconciler) recordOnApp(ctx context.Context, app *v1alpha1.Application, env string, rel *v1alpha1.Release, rev string, latest bool) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(app), app); err != nil {
			return err
		}
		if latest {
			app.Status.LatestRelease = rel.Name
		}
		st := v1alpha1.EnvironmentStatus{Name: env, Release: rel.Name, Image: rel.Spec.Image, ConfigRevision: rev, Sync: "Pending"}
		replaced := false
		for i := range app.Status.Environments {
			if app.Status.Environments[i].Name == env {
				app.Status.Environments[i], replaced = st, true
			}
		}
		if !replaced {
			app.Status.Environments = append(app.Status.Environments, st)
		}
		meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProgressing, Message: fmt.Sprintf("release %s committed to %s", rel.Name, env)})
		return r.Client.Status().Update(ctx, app)
	})
	if err != nil {
		return fmt.Errorf("update application %s status: %w", app.Name, err)
	}
	return nil
}

func findEnv(envs []v1alpha1.ReleaseEnvironment, name string) *v1alpha1.ReleaseEnvironment {
	for i := range envs {
		if envs[i].Name == name {
			return &envs[i]
		}
	}
	return nil
}

func setEnv(envs *[]v1alpha1.ReleaseEnvironment, e v1alpha1.ReleaseEnvironment) {
	if cur := findEnv(*envs, e.Name); cur != nil {
		*cur = e
		return
	}
	*envs = append(*envs, e)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}
