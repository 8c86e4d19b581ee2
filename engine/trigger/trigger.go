// Package trigger turns accepted webhook Deliveries into PipelineRuns for the Applications that
// track them.
package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/pipelines"
	"slipway.dev/slipway/webhooks/event"
)

// Flows a Delivery can trigger.
const (
	FlowDeploy = "deploy"
)

// Executors of the PipelineRuns Slipway creates.
const (
	ExecutorLocal  = "local"
	ExecutorTekton = "tekton"
)

// BuildCacheClaim is the PersistentVolumeClaim bound to the pipelines' cache workspace.
const BuildCacheClaim = "slipway-build-cache"

// Config is what the trigger needs to know about the platform it runs on.
type Config struct {
	// Registry is the registry host (and optional path prefix) images are pushed to, such as
	// 127.0.0.1:5001.
	Registry string
	// InsecureRegistry uses plain HTTP, for loopback registries.
	InsecureRegistry bool
	// BaseImage is the base image for the Go fast path, pinned by digest.
	BaseImage string
	// Executor is ExecutorLocal or ExecutorTekton.
	Executor string
}

// Reconciler reconciles Deliveries.
type Reconciler struct {
	Client client.Client
	Config Config
	Log    *slog.Logger
}

// SetupWithManager registers the reconciler with a controller-runtime manager.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("trigger").
		For(&v1alpha1.Delivery{}).
		Complete(r)
}

// Reconcile creates the PipelineRuns a Delivery asks for, exactly once: run names derive from the
// Delivery and the Application, so a retry after a crash finds the run it already made.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var d v1alpha1.Delivery
	if err := r.Client.Get(ctx, req.NamespacedName, &d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady) != nil {
		return ctrl.Result{}, nil // already handled
	}
	log := r.logger().With("delivery", d.Name, "event", d.Spec.Event, "ref", d.Spec.Ref)

	reason, msg := "", ""
	var triggered []v1alpha1.TriggeredRun
	switch {
	case d.Spec.Event != "push" && d.Spec.Event != "branch-create":
		reason, msg = v1alpha1.ReasonIgnored, fmt.Sprintf("event %s triggers nothing yet", d.Spec.Event)
	case !strings.HasPrefix(d.Spec.Ref, "refs/heads/"):
		reason, msg = v1alpha1.ReasonIgnored, fmt.Sprintf("ref %s is not a branch", d.Spec.Ref)
	case event.IsZeroSHA(d.Spec.After):
		reason, msg = v1alpha1.ReasonIgnored, "the branch was deleted"
	default:
		apps, err := r.matchingApps(ctx, &d)
		if err != nil {
			return ctrl.Result{}, err
		}
		if len(apps) == 0 {
			reason, msg = v1alpha1.ReasonNoApplication, fmt.Sprintf("no Application in namespace %s tracks %s branch %s",
				d.Namespace, d.Spec.RepoURL, strings.TrimPrefix(d.Spec.Ref, "refs/heads/"))
			break
		}
		var invalid []string
		for i := range apps {
			pr, err := DeployRun(ctx, &d, &apps[i], r.Config)
			if err != nil {
				// A spec Tekton rejects will not get better by retrying: record why and go on
				// with the other Applications.
				log.Warn("pipeline run not created", "application", apps[i].Name, "err", err)
				invalid = append(invalid, err.Error())
				triggered = append(triggered, v1alpha1.TriggeredRun{Application: apps[i].Name, Flow: FlowDeploy})
				continue
			}
			if err := r.createRun(ctx, &apps[i], pr); err != nil {
				return ctrl.Result{}, err
			}
			log.Info("pipeline run triggered", "application", apps[i].Name, "pipelineRun", pr.Name)
			triggered = append(triggered, v1alpha1.TriggeredRun{Application: apps[i].Name, Flow: FlowDeploy, PipelineRun: pr.Name})
		}
		reason, msg = v1alpha1.ReasonSucceeded, fmt.Sprintf("triggered %d pipeline run(s)", len(triggered)-len(invalid))
		if len(invalid) > 0 {
			reason, msg = v1alpha1.ReasonInvalidSpec, msg+"; "+strings.Join(invalid, "; ")
		}
	}

	d.Status.Triggered = triggered
	d.Status.ObservedGeneration = d.Generation
	ready := metav1.ConditionTrue
	if reason == v1alpha1.ReasonInvalidSpec {
		ready = metav1.ConditionFalse
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: msg,
			ObservedGeneration: d.Generation,
		})
	}
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: ready, Reason: reason, Message: msg,
		ObservedGeneration: d.Generation,
	})
	if err := r.Client.Status().Update(ctx, &d); err != nil {
		return ctrl.Result{}, fmt.Errorf("update delivery %s status: %w", d.Name, err)
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// matchingApps lists the Applications in the Delivery's namespace whose repository and branch
// match the push.
func (r *Reconciler) matchingApps(ctx context.Context, d *v1alpha1.Delivery) ([]v1alpha1.Application, error) {
	var list v1alpha1.ApplicationList
	if err := r.Client.List(ctx, &list, client.InNamespace(d.Namespace)); err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	branch := strings.TrimPrefix(d.Spec.Ref, "refs/heads/")
	want := v1alpha1.NormalizeRepoURL(d.Spec.RepoURL)
	var out []v1alpha1.Application
	for _, a := range list.Items {
		if a.DeletionTimestamp != nil || a.Spec.Source.Provider != d.Spec.Provider {
			continue
		}
		if v1alpha1.NormalizeRepoURL(a.Spec.Source.RepoURL) == want && a.TrackedBranch() == branch {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RunName derives a PipelineRun's name from the Delivery and Application, so that creating it
// twice is harmless.
func RunName(app, delivery, flow string) string {
	sum := sha256.Sum256([]byte(delivery + "\x00" + app + "\x00" + flow))
	prefix := app
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-.") // a name part must end alphanumeric
	}
	return fmt.Sprintf("%s-%s-%s", prefix, flow, hex.EncodeToString(sum[:])[:10])
}

func (r *Reconciler) createRun(ctx context.Context, app *v1alpha1.Application, pr *tektonv1.PipelineRun) error {
	if err := controllerutil.SetOwnerReference(app, pr, r.Client.Scheme()); err != nil {
		return fmt.Errorf("own pipeline run %s: %w", pr.Name, err)
	}
	if err := r.Client.Create(ctx, pr); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create pipeline run %s: %w", pr.Name, err)
	}
	return nil
}

// DeployRun builds the PipelineRun that builds one commit of an Application, validated by
// Tekton's own defaulting and validation.
func DeployRun(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, cfg Config) (*tektonv1.PipelineRun, error) {
	params := map[string]string{
		"application":       app.Name,
		"repo-url":          d.Spec.RepoURL,
		"revision":          d.Spec.After,
		"path":              orDefault(app.Spec.Source.Path, "."),
		"go-package":        orDefault(app.Spec.Build.GoPackage, "."),
		"image":             strings.TrimSuffix(cfg.Registry, "/") + "/apps/" + app.Namespace + "/" + app.Name,
		"base-image":        cfg.BaseImage,
		"insecure-registry": fmt.Sprint(cfg.InsecureRegistry),
	}
	for k, v := range app.Spec.Build.Params {
		params[k] = v
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var ps tektonv1.Params
	for _, k := range names {
		ps = append(ps, tektonv1.Param{Name: k, Value: *tektonv1.NewStructuredValues(params[k])})
	}

	name := RunName(app.Name, d.Name, FlowDeploy)
	pr := &tektonv1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: app.Namespace,
			Labels: map[string]string{
				v1alpha1.LabelApplication: app.Name,
				v1alpha1.LabelDelivery:    d.Name,
				v1alpha1.LabelSHA:         d.Spec.After,
				v1alpha1.LabelFlow:        FlowDeploy,
			},
		},
		Spec: tektonv1.PipelineRunSpec{
			PipelineRef: &tektonv1.PipelineRef{Name: pipelines.Deploy},
			Params:      ps,
			Workspaces: []tektonv1.WorkspaceBinding{
				{Name: "source", EmptyDir: &corev1EmptyDir},
				{Name: "cache", PersistentVolumeClaim: &corev1PVC},
			},
		},
	}
	if cfg.Executor == ExecutorLocal {
		pr.Annotations = map[string]string{v1alpha1.AnnotationExecutor: ExecutorLocal}
	}
	if err := validateRun(ctx, pr); err != nil {
		return nil, fmt.Errorf("application %s: %w", app.Name, err)
	}
	return pr, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
