// Package release records a Release for every successful deploy PipelineRun: the image it built,
// pinned by digest, and the commit it came from.
package release

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/tektonexec"
)

// Reconciler turns finished deploy PipelineRuns into Releases.
type Reconciler struct {
	Client client.Client
	Log    *slog.Logger
}

// SetupWithManager registers the reconciler for PipelineRuns that carry Slipway's labels.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, ok := o.GetLabels()[v1alpha1.LabelApplication]
		return ok && o.GetLabels()[v1alpha1.LabelFlow] == "deploy"
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("release").
		For(&tektonv1.PipelineRun{}, builder.WithPredicates(ours)).
		Complete(r)
}

var (
	imageByDigest = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)
	fullSHA       = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// Name is the Release's name for an Application and source commit: one Release per commit, so
// a retried or duplicated run finds the Release it already made (v1alpha1.ReleaseName).
func Name(app, sha string) string { return v1alpha1.ReleaseName(app, sha) }

// releaseName is the name the trigger gave the run's Release in its LabelRelease before the
// run started, or, for a run without that label, the name of the commit it built.
func releaseName(app string, pr *tektonv1.PipelineRun, sha string) string {
	if n := pr.Labels[v1alpha1.LabelRelease]; n != "" && len(validation.IsDNS1123Subdomain(n)) == 0 {
		return n
	}
	return Name(app, sha)
}

// Reconcile creates the Release of a successful run, or marks the Application when the run failed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pr tektonv1.PipelineRun
	if err := r.Client.Get(ctx, req.NamespacedName, &pr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	out := tektonexec.OutcomeOf(&pr)
	if !out.Done() {
		return ctrl.Result{}, nil
	}
	appName := pr.Labels[v1alpha1.LabelApplication]
	var app v1alpha1.Application
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: pr.Namespace, Name: appName}, &app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := r.logger().With("application", appName, "pipelineRun", pr.Name)
	switch out.Phase {
	case tektonexec.Cancelled:
		// Cancelled runs were superseded by a newer push or stopped by a user: nothing to
		// release, and nothing wrong with the Application.
		log.Info("pipeline run cancelled", "message", out.Message)
		return ctrl.Result{}, nil
	case tektonexec.TimedOut:
		return ctrl.Result{}, r.markApp(ctx, &app, metav1.ConditionFalse, v1alpha1.ReasonTimedOut,
			fmt.Sprintf("pipeline run %s timed out: %s; see `slipway logs %s`, and raise the timeout if the build needs longer", pr.Name, out.Message, pr.Name))
	case tektonexec.Failed:
		if blocked, err := r.blockedByScan(ctx, &app, &pr); blocked || err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.markApp(ctx, &app, metav1.ConditionFalse, v1alpha1.ReasonFailed,
			fmt.Sprintf("pipeline run %s failed: %s; see `slipway logs %s`", pr.Name, out.Message, pr.Name))
	}

	results := out.Results
	image, sha := results["IMAGE_URL"], results["COMMIT"]
	if sha == "" {
		sha = pr.Labels[v1alpha1.LabelSHA]
	}
	if !fullSHA.MatchString(sha) {
		return ctrl.Result{}, r.markApp(ctx, &app, metav1.ConditionFalse, v1alpha1.ReasonFailed,
			fmt.Sprintf("pipeline run %s succeeded but its COMMIT result %q is not a full commit SHA", pr.Name, sha))
	}
	if !imageByDigest.MatchString(image) {
		return ctrl.Result{}, r.markApp(ctx, &app, metav1.ConditionFalse, v1alpha1.ReasonFailed,
			fmt.Sprintf("pipeline run %s succeeded but its IMAGE_URL result %q is not an image pinned by digest", pr.Name, image))
	}

	rel := newRelease(&app, &pr, sha, image)
	rel.Spec.Signature = results["SIGNATURE"]
	rel.Spec.SBOM = results["ATTESTATIONS"]
	rel.Spec.Scan = scanSummary(results["SCAN_SUMMARY"])
	created, err := r.create(ctx, &app, rel)
	if created {
		log.Info("release created", "release", rel.Name, "image", image)
	}
	return ctrl.Result{}, err
}

// newRelease is the Release of one image built from one commit of app.
func newRelease(app *v1alpha1.Application, pr *tektonv1.PipelineRun, sha, image string) *v1alpha1.Release {
	return &v1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{
			Name:      releaseName(app.Name, pr, sha),
			Namespace: pr.Namespace,
			Labels: map[string]string{
				v1alpha1.LabelApplication: app.Name,
				v1alpha1.LabelSHA:         sha,
				v1alpha1.LabelDelivery:    pr.Labels[v1alpha1.LabelDelivery],
			},
		},
		Spec: v1alpha1.ReleaseSpec{
			Application: app.Name,
			SourceSHA:   sha,
			Ref:         runRef(app, pr),
			Image:       image,
			Delivery:    pr.Labels[v1alpha1.LabelDelivery],
			PipelineRun: pr.Name,
		},
	}
}

// runRef is the ref a deploy run built: a tag for a tag push, the tracked branch otherwise.
func runRef(app *v1alpha1.Application, pr *tektonv1.PipelineRun) string {
	if ref := pr.Annotations[v1alpha1.AnnotationRef]; strings.HasPrefix(ref, "refs/tags/") {
		return ref
	}
	return "refs/heads/" + app.TrackedBranch()
}

// create makes rel, owned by app; an existing Release of the same name is the one an earlier
// attempt made.
func (r *Reconciler) create(ctx context.Context, app *v1alpha1.Application, rel *v1alpha1.Release) (bool, error) {
	if err := controllerutil.SetOwnerReference(app, rel, r.Client.Scheme()); err != nil {
		return false, fmt.Errorf("own release: %w", err)
	}
	switch err := r.Client.Create(ctx, rel); {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create release %s: %w", rel.Name, err)
	}
	return true, nil
}

func (r *Reconciler) markApp(ctx context.Context, app *v1alpha1.Application, status metav1.ConditionStatus, reason, msg string) error {
	changed := meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: app.Generation,
	})
	if !changed {
		return nil
	}
	if err := r.Client.Status().Update(ctx, app); err != nil {
		return fmt.Errorf("update application %s status: %w", app.Name, err)
	}
	return nil
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}
