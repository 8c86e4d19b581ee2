// Package trigger turns accepted webhook Deliveries into PipelineRuns for the Applications that
// track them.
package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/pod"
	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/pipelines"
	"slipway.dev/slipway/webhooks/event"
)

// Flows a Delivery can trigger.
const (
	FlowDeploy   = "deploy"
	FlowPreview  = "preview"
	FlowTeardown = "teardown"
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
	// SigningKeySecret is the Secret (cosign.key, cosign.password) bound to the pipelines'
	// signing-key workspace; only the sign task sees it. Empty with Keyless.
	SigningKeySecret string
	// Keyless, when set, makes runs sign keyless instead of with SigningKeySecret.
	Keyless *Keyless
	// TrivyDB is the vulnerability database the scan task uses: a directory the executor can
	// read, or oci://REPOSITORY[:TAG].
	TrivyDB string
	// Builder is the buildpacks builder used when an Application names none.
	Builder string
	// StatusTokenSecret, when set, is a Secret with the Git provider's API token (key "token");
	// runs then report commit statuses, and only the report task sees it.
	StatusTokenSecret string
	// RegistryCredentialsSecret, when set, is a kubernetes.io/dockerconfigjson Secret bound to
	// the pipelines' registry-credentials workspace: only the tasks that push, pull or tag
	// images mount it, as their DOCKER_CONFIG.
	RegistryCredentialsSecret string
	// ServiceAccount runs the runs' pods; empty leaves it to the executor (Tekton's default
	// account). Either way the pods get no API token (automountServiceAccountToken: false).
	ServiceAccount string
}

// Runs creates, cancels and starts PipelineRuns for the executor that runs them.
// tektonexec.Executor implements it through Tekton's clientset, in a cluster (Tekton runs
// them) and on one machine (the local runner watches the same API server).
type Runs interface {
	// Submit creates pr; a run of the same name and labels is the one an earlier attempt made.
	Submit(ctx context.Context, pr *tektonv1.PipelineRun) (*tektonv1.PipelineRun, error)
	// Cancel cancels an unfinished run and sets annotations in the same write; with
	// runFinally its finally tasks still run.
	Cancel(ctx context.Context, ns, name string, runFinally bool, annotations map[string]string) error
	// Start starts a pending run and reports whether it did (false: no longer pending).
	Start(ctx context.Context, ns, name string) (bool, error)
}

// Reconciler reconciles Deliveries, and the run queues of the Applications they trigger.
type Reconciler struct {
	Client client.Client
	// Runs creates, cancels and starts the runs. Required.
	Runs Runs
	// APIReader reads runs past any cache when slots are counted; nil means Client.
	APIReader client.Reader
	Config    Config
	Log       *slog.Logger

	locks appLocks
}

// SetupWithManager registers the Delivery reconciler and the queue reconciler, which starts an
// Application's queued runs as its running ones finish, with a controller-runtime manager.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Runs == nil {
		return errors.New("trigger: no Runs to create pipeline runs with")
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := r.setupQueue(mgr); err != nil {
		return fmt.Errorf("set up trigger queue: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("trigger").
		For(&v1alpha1.Delivery{}).
		Complete(r)
}

// Reconcile creates the PipelineRuns a Delivery asks for, exactly once: run names derive from the
// Delivery and the Application, so a retry after a crash finds the run it already made. Runs are
// created pending and started by the Application's queue (see admit).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var d v1alpha1.Delivery
	if err := r.Client.Get(ctx, req.NamespacedName, &d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady) != nil {
		return ctrl.Result{}, nil // already handled
	}
	var (
		out *outcome
		err error
	)
	switch d.Spec.Event {
	case "push", "branch-create":
		out, err = r.push(ctx, &d)
	case "tag":
		out, err = r.tag(ctx, &d)
	case "pr-opened", "pr-updated", "pr-reopened", "pr-closed", "pr-merged":
		out, err = r.pullRequest(ctx, &d)
	case "pr-comment":
		out, err = r.comment(ctx, &d)
	default:
		out = (&outcome{}).ignore(v1alpha1.ReasonIgnored, fmt.Sprintf("event %s triggers nothing", d.Spec.Event))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.updateDeliveryStatus(ctx, req.NamespacedName, out.apply); err != nil {
		return ctrl.Result{}, err
	}
	for _, app := range out.admits {
		if err := r.Admit(ctx, app); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// push handles a push to a branch: one deploy run per Application tracking it, cancelling the
// runs it supersedes, or none when a newer push of the branch already ran.
func (r *Reconciler) push(ctx context.Context, d *v1alpha1.Delivery) (*outcome, error) {
	out := &outcome{}
	switch {
	case !strings.HasPrefix(d.Spec.Ref, "refs/heads/"):
		return out.ignore(v1alpha1.ReasonIgnored, fmt.Sprintf("ref %s is not a branch", d.Spec.Ref)), nil
	case event.IsZeroSHA(d.Spec.After):
		return out.ignore(v1alpha1.ReasonIgnored, "the branch was deleted"), nil
	}
	apps, err := r.matchingApps(ctx, d)
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return out.ignore(v1alpha1.ReasonNoApplication, fmt.Sprintf("no Application in namespace %s tracks %s branch %s",
			d.Namespace, d.Spec.RepoURL, strings.TrimPrefix(d.Spec.Ref, "refs/heads/"))), nil
	}
	return r.deployApps(ctx, d, apps, out)
}

// deployApps starts, for a push of a branch or a tag, one deploy run per Application of apps,
// cancelling the runs it supersedes, or records why an Application gets none (an invalid spec,
// a newer push of the ref that already ran, a ref that did not move whose commit is built).
func (r *Reconciler) deployApps(ctx context.Context, d *v1alpha1.Delivery, apps []v1alpha1.Application, out *outcome) (*outcome, error) {
	for i := range apps {
		app := &apps[i]
		if skip, err := r.skipUnmoved(ctx, d, app, out); skip || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		pr, err := DeployRun(ctx, d, app, r.Config)
		if err != nil {
			// A spec Tekton rejects will not get better by retrying: record why and go on
			// with the other Applications.
			r.logger().Warn("pipeline run not created", "delivery", d.Name, "application", app.Name, "err", err)
			out.add(app.Name, FlowDeploy, "", v1alpha1.ReasonInvalidSpec, err.Error())
			continue
		}
		newer, err := r.supersedeBranchRuns(ctx, d, app)
		if err != nil {
			return nil, err
		}
		if newer != "" {
			out.add(app.Name, FlowDeploy, "", v1alpha1.ReasonSuperseded, "a newer push of "+d.Spec.Ref+" already has run "+newer+"; this older delivery starts nothing")
			continue
		}
		if err := r.createRun(ctx, app, pr); err != nil {
			return nil, err
		}
		r.logger().Info("pipeline run triggered", "delivery", d.Name, "application", app.Name, "pipelineRun", pr.Name)
		out.run(app.Name, FlowDeploy, pr.Name)
		out.admit(app)
	}
	return out, nil
}

// supersedeBranchRuns applies cancel-in-progress to a push: it cancels the Application's
// unfinished deploy runs of the same branch that the Delivery supersedes, unless some run of the
// branch (finished or not, but not cancelled) is newer than the Delivery, whose name it then
// returns and cancels nothing.
func (r *Reconciler) supersedeBranchRuns(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application) (string, error) {
	var list tektonv1.PipelineRunList
	if err := r.reader().List(ctx, &list, client.InNamespace(app.Namespace), client.MatchingLabels{
		v1alpha1.LabelApplication: app.Name, v1alpha1.LabelFlow: FlowDeploy, v1alpha1.LabelRefHash: refHash(d.Spec.Ref),
	}); err != nil {
		return "", fmt.Errorf("list runs of %s %s: %w", app.Name, d.Spec.Ref, err)
	}
	u := deliveryUpdate(d)
	var older []*tektonv1.PipelineRun
	for i := range list.Items {
		pr := &list.Items[i]
		if pr.Labels[v1alpha1.LabelDelivery] == d.Name || isCancelled(pr) || pr.Annotations[v1alpha1.AnnotationRef] != d.Spec.Ref {
			continue
		}
		if !supersedes(u, runUpdate(pr)) {
			return pr.Name, nil
		}
		if inFlight(pr) {
			older = append(older, pr)
		}
	}
	reason := fmt.Sprintf("superseded by push %s of %s (delivery %s)", short(d.Spec.After), d.Spec.Ref, d.Name)
	for _, pr := range older {
		if err := r.cancelRun(ctx, pr, d.Name, reason); err != nil {
			return "", err
		}
	}
	return "", nil
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// repoApps lists the Applications in the Delivery's namespace that watch its provider and
// repository, in name order.
func (r *Reconciler) repoApps(ctx context.Context, d *v1alpha1.Delivery) ([]v1alpha1.Application, error) {
	var list v1alpha1.ApplicationList
	if err := r.Client.List(ctx, &list, client.InNamespace(d.Namespace)); err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	want := v1alpha1.NormalizeRepoURL(d.Spec.RepoURL)
	var out []v1alpha1.Application
	for _, a := range list.Items {
		if a.DeletionTimestamp != nil || a.Spec.Source.Provider != d.Spec.Provider {
			continue
		}
		if v1alpha1.NormalizeRepoURL(a.Spec.Source.RepoURL) == want {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// matchingApps lists the Applications whose repository and tracked branch match the push.
func (r *Reconciler) matchingApps(ctx context.Context, d *v1alpha1.Delivery) ([]v1alpha1.Application, error) {
	all, err := r.repoApps(ctx, d)
	if err != nil {
		return nil, err
	}
	branch := strings.TrimPrefix(d.Spec.Ref, "refs/heads/")
	var out []v1alpha1.Application
	for _, a := range all {
		if a.TrackedBranch() == branch {
			out = append(out, a)
		}
	}
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
	if r.Runs == nil {
		return errors.New("trigger: no Runs to create pipeline runs with")
	}
	_, err := r.Runs.Submit(ctx, pr)
	return err
}

// DeployRun builds the PipelineRun that builds one commit of an Application, validated by
// Tekton's own defaulting and validation.
func DeployRun(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, cfg Config) (*tektonv1.PipelineRun, error) {
	return flowRun(ctx, d, app, cfg, runSpec{
		flow:     FlowDeploy,
		pipeline: pipelines.Deploy,
		repoURL:  d.Spec.RepoURL,
		revision: d.Spec.After,
		fetchRef: d.Spec.Ref,
		ref:      d.Spec.Ref,
		before:   d.Spec.Before,
		imageDir: "apps",
	})
}

// runSpec is what a flow's PipelineRun has of its own.
type runSpec struct {
	flow, pipeline string
	// repoURL and revision are the commit the run builds, fetched through fetchRef.
	repoURL, revision, fetchRef string
	// ref names the branch or pull request the run is for (labelled by hash); before is the
	// commit it follows.
	ref, before string
	// imageDir is the registry directory the image goes under: apps/ or previews/.
	imageDir string
	// params and labels are the flow's own, added to the common ones; the Application's build
	// params win over every param.
	params, labels map[string]string
}

// flowRun builds, for Delivery d, the PipelineRun of one flow with the params, labels and
// annotations every flow shares, and validates it with Tekton's own defaulting and validation.
func flowRun(ctx context.Context, d *v1alpha1.Delivery, app *v1alpha1.Application, cfg Config, s runSpec) (*tektonv1.PipelineRun, error) {
	params := map[string]string{
		"application":       app.Name,
		"repo-url":          s.repoURL,
		"revision":          s.revision,
		"ref":               s.fetchRef,
		"path":              orDefault(app.Spec.Source.Path, "."),
		"image":             strings.TrimSuffix(cfg.Registry, "/") + "/" + s.imageDir + "/" + app.Namespace + "/" + app.Name,
		"base-image":        cfg.BaseImage,
		"insecure-registry": fmt.Sprint(cfg.InsecureRegistry),
	}
	for k, v := range s.params {
		params[k] = v
	}
	buildParams(params, app, cfg)
	if cfg.Keyless != nil && cfg.SigningKeySecret != "" {
		return nil, errors.New("trigger: both a signing key Secret and keyless signing are configured; runs sign with one")
	}
	if err := checkOverrides(app.Spec.Build.Params); err != nil {
		return nil, fmt.Errorf("application %s: %w", app.Name, err)
	}
	for k, v := range app.Spec.Build.Params {
		params[k] = v
	}
	pr := newRun(RunName(app.Name, d.Name, s.flow), s.pipeline, app, d, params, cfg)
	pr.Labels[v1alpha1.LabelSHA] = s.revision
	pr.Labels[v1alpha1.LabelFlow] = s.flow
	if s.flow == FlowDeploy {
		// The release reconciler names the run's Release by this label.
		pr.Labels[v1alpha1.LabelRelease] = v1alpha1.ReleaseName(app.Name, s.revision)
	}
	for k, v := range s.labels {
		pr.Labels[k] = v
	}
	pr.Labels[v1alpha1.LabelRefHash] = refHash(s.ref)
	pr.Annotations[v1alpha1.AnnotationRef] = s.ref
	pr.Annotations[v1alpha1.AnnotationBefore] = s.before
	if err := validateRun(ctx, pr); err != nil {
		return nil, fmt.Errorf("application %s: %w", app.Name, err)
	}
	return pr, nil
}

// newRun is the PipelineRun skeleton both flows share: created pending, so that the
// Application's queue starts it when a slot is free.
func newRun(name, pipeline string, app *v1alpha1.Application, d *v1alpha1.Delivery, params map[string]string, cfg Config) *tektonv1.PipelineRun {
	pr := &tektonv1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: app.Namespace,
			Labels: map[string]string{
				v1alpha1.LabelApplication: app.Name,
				v1alpha1.LabelDelivery:    d.Name,
				v1alpha1.LabelQueued:      "true",
			},
			Annotations: map[string]string{v1alpha1.AnnotationReceivedAt: receivedAtAnnotation(d)},
		},
		Spec: tektonv1.PipelineRunSpec{
			PipelineRef: &tektonv1.PipelineRef{Name: pipeline},
			Params:      sortedParams(params),
			Status:      tektonv1.PipelineRunSpecStatusPending,
			Workspaces:  workspaces(cfg),
			// Build steps hold no cluster credentials: no API token in any pod of the run.
			TaskRunTemplate: tektonv1.PipelineTaskRunTemplate{
				ServiceAccountName: cfg.ServiceAccount,
				PodTemplate:        &pod.PodTemplate{AutomountServiceAccountToken: ptr.To(false)},
			},
		},
	}
	if cfg.Executor == ExecutorLocal {
		pr.Annotations[v1alpha1.AnnotationExecutor] = ExecutorLocal
	}
	return pr
}

// buildParams sets the params that say how to build, scan and report, from the Application's
// build spec and the platform's configuration. The Application's own param overrides, applied
// after, win.
func buildParams(params map[string]string, app *v1alpha1.Application, cfg Config) {
	b := app.Spec.Build
	params["strategy"] = orDefault(b.Strategy, v1alpha1.BuildAuto)
	params["go-package"] = b.GoPackage
	params["dockerfile"] = b.Dockerfile
	if builder := orDefault(b.Builder, cfg.Builder); builder != "" {
		params["builder"] = builder
	}
	if cfg.TrivyDB != "" {
		params["trivy-db"] = cfg.TrivyDB
	}
	if cfg.StatusTokenSecret != "" {
		params["provider"] = app.Spec.Source.Provider
	}
	if cfg.Keyless != nil {
		cfg.Keyless.params(params)
	}
}

// workspaces binds the pipelines' workspaces: a fresh source directory per run, the shared
// build cache, and the credentials each single task needs.
func workspaces(cfg Config) []tektonv1.WorkspaceBinding {
	ws := []tektonv1.WorkspaceBinding{
		{Name: "source", EmptyDir: &corev1EmptyDir},
		{Name: "cache", PersistentVolumeClaim: &corev1PVC},
	}
	if cfg.Keyless != nil {
		ws = append(ws, cfg.Keyless.workspace())
	} else if cfg.SigningKeySecret != "" {
		ws = append(ws, tektonv1.WorkspaceBinding{Name: "signing-key", Secret: &corev1.SecretVolumeSource{
			SecretName: cfg.SigningKeySecret,
			Items:      []corev1.KeyToPath{{Key: "cosign.key", Path: "cosign.key"}, {Key: "cosign.password", Path: "cosign.password"}},
		}})
	}
	if cfg.StatusTokenSecret != "" {
		ws = append(ws, tektonv1.WorkspaceBinding{Name: "status-token", Secret: &corev1.SecretVolumeSource{SecretName: cfg.StatusTokenSecret}})
	}
	if cfg.RegistryCredentialsSecret != "" {
		// A dockerconfigjson Secret's one key, laid out as a Docker config directory.
		ws = append(ws, tektonv1.WorkspaceBinding{Name: "registry-credentials", Secret: &corev1.SecretVolumeSource{
			SecretName: cfg.RegistryCredentialsSecret,
			Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}},
		}})
	}
	return ws
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
