package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	tektonv1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"slipway.dev/slipway/catalog"
	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/tektonexec"
	"slipway.dev/slipway/pipelines"
)

// FieldManager is the server-side apply field manager, and the managed-by label value, of what
// the controller installs.
const FieldManager = "slipway"

// Labels on what the controller installs.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelVersion is the version of Slipway that installed the object.
	LabelVersion = "slipway.dev/version"
)

// InstalledTaskName is the name a catalog Task is installed under in a cluster. The prefix
// keeps it apart from a namespace's own Tasks of the same name (tektoncd/catalog's git-clone,
// for one), which the controller would otherwise take over.
func InstalledTaskName(name string) string { return "slipway-" + name }

// Installer keeps Slipway's Pipelines (slipway-deploy, slipway-preview) and the catalog's
// Tasks installed and current in each namespace the controller creates runs in: it applies
// them server-side (field manager slipway, taking over fields others changed), with every
// step image pinned by digest and labelled with Slipway's version, again whenever one drifts
// or is deleted and after an upgrade, and deletes the ones an older version installed that
// this one no longer has. It also creates the pipelines' ServiceAccount where it is missing.
type Installer struct {
	client         client.Client
	objects        []*unstructured.Unstructured
	serviceAccount string
	log            *slog.Logger

	mu sync.Mutex
	// applied is the resourceVersion each object had after this process last applied it: an
	// object still at that version is current, anything else (another version, or gone) is
	// applied again.
	applied map[string]string
	// accounts are the namespaces whose ServiceAccount is known to exist.
	accounts map[string]bool
}

// NewInstaller returns an Installer that writes through c (reads may come from a cache).
// stepImage replaces the catalog's slipway.dev/steps images and must be pinned by digest;
// version labels what is installed; serviceAccount, when set, is created where missing.
func NewInstaller(c client.Client, stepImage, version, serviceAccount string, log *slog.Logger) (*Installer, error) {
	objects, err := catalogObjects(stepImage, version)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Installer{client: c, objects: objects, serviceAccount: serviceAccount, log: log,
		applied: map[string]string{}, accounts: map[string]bool{}}, nil
}

// Ensure installs, repairs or upgrades what ns needs to run Slipway's pipelines. When
// everything is as this process last applied it, it only reads (from the cache).
func (in *Installer) Ensure(ctx context.Context, ns string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.ensureServiceAccount(ctx, ns); err != nil {
		return err
	}
	changed := false
	for _, want := range in.objects {
		key := want.GetKind() + "/" + ns + "/" + want.GetName()
		live, err := in.get(ctx, want.GetKind(), ns, want.GetName())
		switch {
		case err == nil && in.applied[key] == live.GetResourceVersion():
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("install pipelines in %s: read %s %s: %w", ns, want.GetKind(), want.GetName(), err)
		}
		obj := want.DeepCopy()
		obj.SetNamespace(ns)
		if err := in.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
			client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("install pipelines in %s: apply %s %s: %w", ns, want.GetKind(), want.GetName(), err)
		}
		in.applied[key] = obj.GetResourceVersion()
		changed = true
		in.log.Info("applied", "namespace", ns, "kind", want.GetKind(), "name", want.GetName(), "existed", err == nil)
	}
	if changed {
		return in.prune(ctx, ns)
	}
	return nil
}

// get reads one installed object through the client (the manager's cache in the controller).
func (in *Installer) get(ctx context.Context, kind, ns, name string) (client.Object, error) {
	var obj client.Object = &tektonv1.Pipeline{}
	if kind == "Task" {
		obj = &tektonv1.Task{}
	}
	return obj, in.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// prune deletes the Tasks and Pipelines an earlier version installed in ns and this one no
// longer has.
func (in *Installer) prune(ctx context.Context, ns string) error {
	want := map[string]bool{}
	for _, o := range in.objects {
		want[o.GetKind()+"/"+o.GetName()] = true
	}
	ours := []client.ListOption{client.InNamespace(ns), client.MatchingLabels{LabelManagedBy: FieldManager}}
	var tasks tektonv1.TaskList
	var pls tektonv1.PipelineList
	if err := in.client.List(ctx, &tasks, ours...); err != nil {
		return fmt.Errorf("install pipelines in %s: list tasks: %w", ns, err)
	}
	if err := in.client.List(ctx, &pls, ours...); err != nil {
		return fmt.Errorf("install pipelines in %s: list pipelines: %w", ns, err)
	}
	var stale []client.Object
	for i := range tasks.Items {
		if !want["Task/"+tasks.Items[i].Name] {
			stale = append(stale, &tasks.Items[i])
		}
	}
	for i := range pls.Items {
		if !want["Pipeline/"+pls.Items[i].Name] {
			stale = append(stale, &pls.Items[i])
		}
	}
	for _, o := range stale {
		if err := in.client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("install pipelines in %s: delete %s: %w", ns, o.GetName(), err)
		}
		in.log.Info("deleted what an earlier version installed", "namespace", ns, "name", o.GetName())
	}
	return nil
}

// ensureServiceAccount creates the pipelines' ServiceAccount in ns when it does not exist: no
// token mounted and no role bound. An existing one, the chart's or the operator's, is left as
// it is.
func (in *Installer) ensureServiceAccount(ctx context.Context, ns string) error {
	if in.serviceAccount == "" || in.accounts[ns] {
		return nil
	}
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: in.serviceAccount,
			Labels: map[string]string{LabelManagedBy: FieldManager}},
		AutomountServiceAccountToken: ptr.To(false),
	}
	if err := in.client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("install pipelines in %s: create service account %s: %w", ns, in.serviceAccount, err)
	}
	in.accounts[ns] = true
	return nil
}

// SetupWithManager keeps every namespace that has an Application installed: it reacts to
// Applications created and to any change of what it installed, including deletion.
func (in *Installer) SetupWithManager(mgr ctrl.Manager) error {
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace()}}}
	})
	isOurs := func(o client.Object) bool { return o.GetLabels()[LabelManagedBy] == FieldManager }
	ours := predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return isOurs(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return isOurs(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return isOurs(e.ObjectOld) || isOurs(e.ObjectNew) },
		GenericFunc: func(e event.GenericEvent) bool { return isOurs(e.Object) },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("pipeline-install").
		Watches(&v1alpha1.Application{}, toNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&tektonv1.Task{}, toNamespace, builder.WithPredicates(ours)).
		Watches(&tektonv1.Pipeline{}, toNamespace, builder.WithPredicates(ours)).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			var apps v1alpha1.ApplicationList
			if err := in.client.List(ctx, &apps, client.InNamespace(req.Namespace)); err != nil {
				return reconcile.Result{}, fmt.Errorf("list applications in %s: %w", req.Namespace, err)
			}
			if len(apps.Items) == 0 {
				return reconcile.Result{}, nil // no runs are created here
			}
			return reconcile.Result{}, in.Ensure(ctx, req.Namespace)
		}))
}

// installingRuns installs the pipelines into a run's namespace before submitting the run, so
// that Tekton always finds the Pipeline and Tasks a run names.
type installingRuns struct {
	*tektonexec.Executor
	installer *Installer
}

// Submit ensures the run's namespace is installed, then submits the run.
func (r installingRuns) Submit(ctx context.Context, pr *tektonv1.PipelineRun) (*tektonv1.PipelineRun, error) {
	if err := r.installer.Ensure(ctx, pr.Namespace); err != nil {
		return nil, err
	}
	return r.Executor.Submit(ctx, pr)
}

// digestPinned matches an image pinned by digest, with or without a tag.
var digestPinned = regexp.MustCompile(`^[^@\s$]+@sha256:[0-9a-f]{64}$`)

// catalogObjects are the Tasks and Pipelines to install, as they are applied: the newest
// version of each catalog Task under its installed name, its slipway.dev/steps images replaced
// by stepImage, and the Pipelines referring to the installed names; all labelled with version.
func catalogObjects(stepImage, version string) ([]*unstructured.Unstructured, error) {
	if !digestPinned.MatchString(stepImage) {
		return nil, fmt.Errorf("step image %q is not pinned by digest; want REPOSITORY@sha256:<64 hex digits>", stepImage)
	}
	labels := map[string]string{LabelManagedBy: FieldManager, "app.kubernetes.io/part-of": "slipway", LabelVersion: labelValue(version)}
	refs, err := catalog.List()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	installed := map[string]bool{}
	for _, r := range refs {
		if installed[r.Name] {
			continue
		}
		t, err := catalog.Task(r.Name, "") // the newest version
		if err != nil {
			return nil, err
		}
		installed[r.Name] = true
		t.TypeMeta = metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Task"}
		t.Name = InstalledTaskName(t.Name)
		if err := pinSteps(&t.Spec, stepImage); err != nil {
			return nil, fmt.Errorf("catalog task %s: %w", r.Name, err)
		}
		u, err := toApply(t, labels)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	for _, name := range pipelines.Names() {
		p, err := pipelines.Pipeline(name)
		if err != nil {
			return nil, err
		}
		p.TypeMeta = metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Pipeline"}
		for _, list := range [][]tektonv1.PipelineTask{p.Spec.Tasks, p.Spec.Finally} {
			for i := range list {
				ref := list[i].TaskRef
				if ref == nil || !installed[ref.Name] {
					return nil, fmt.Errorf("pipeline %s: task %s refers to no catalog task", name, list[i].Name)
				}
				ref.Name = InstalledTaskName(ref.Name)
			}
		}
		u, err := toApply(p, labels)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// pinSteps replaces Slipway's step image with stepImage and refuses any image left unpinned.
func pinSteps(ts *tektonv1.TaskSpec, stepImage string) error {
	for i := range ts.Steps {
		s := &ts.Steps[i]
		if s.Image == catalog.StepImage || strings.HasPrefix(s.Image, catalog.StepImage+":") || strings.HasPrefix(s.Image, catalog.StepImage+"@") {
			s.Image = stepImage
		}
		if !digestPinned.MatchString(s.Image) {
			return fmt.Errorf("step %s: image %q is not pinned by digest", s.Name, s.Image)
		}
	}
	for _, s := range ts.Sidecars {
		if !digestPinned.MatchString(s.Image) {
			return fmt.Errorf("sidecar %s: image %q is not pinned by digest", s.Name, s.Image)
		}
	}
	if ts.StepTemplate != nil && ts.StepTemplate.Image != "" {
		return fmt.Errorf("stepTemplate sets image %q; set images per step", ts.StepTemplate.Image)
	}
	return nil
}

// toApply turns a typed object into the unstructured apply configuration sent: metadata
// reduced to the name and labels, no status.
func toApply(obj client.Object, labels map[string]string) (*unstructured.Unstructured, error) {
	all := map[string]string{}
	for k, v := range obj.GetLabels() {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetName(), err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetName(), err)
	}
	delete(u.Object, "status")
	u.Object["metadata"] = map[string]any{"name": obj.GetName()}
	u.SetLabels(all)
	if a := obj.GetAnnotations(); len(a) > 0 {
		u.SetAnnotations(a)
	}
	return u, nil
}

// labelValue makes version a label value: characters labels do not allow (a semver build's
// "+") become "_", and it is cut to 63 characters.
func labelValue(version string) string {
	v := []byte(version)
	for i, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			v[i] = '_'
		}
	}
	s := string(v)
	if len(s) > 63 {
		s = s[:63]
	}
	s = strings.Trim(s, "-_.")
	if s == "" {
		return "unknown"
	}
	return s
}
