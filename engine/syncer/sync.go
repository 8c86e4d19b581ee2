package syncer

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/health"
	gsync "github.com/argoproj/argo-cd/gitops-engine/pkg/sync"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/sync/common"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SyncStatus is what a sync did to one resource.
type SyncStatus string

// Sync statuses, as gitops-engine reports them.
const (
	StatusSynced       SyncStatus = SyncStatus(common.ResultCodeSynced)
	StatusSyncFailed   SyncStatus = SyncStatus(common.ResultCodeSyncFailed)
	StatusPruned       SyncStatus = SyncStatus(common.ResultCodePruned)
	StatusPruneSkipped SyncStatus = SyncStatus(common.ResultCodePruneSkipped)
)

// Health is a resource's health as gitops-engine's health package assesses it.
type Health string

// Health values, from most to least healthy.
const (
	HealthHealthy     Health = Health(health.HealthStatusHealthy)
	HealthSuspended   Health = Health(health.HealthStatusSuspended)
	HealthProgressing Health = Health(health.HealthStatusProgressing)
	HealthMissing     Health = Health(health.HealthStatusMissing)
	HealthDegraded    Health = Health(health.HealthStatusDegraded)
	HealthUnknown     Health = Health(health.HealthStatusUnknown)
)

// Result is the outcome of one sync of one target.
type Result struct {
	// Target is the target's name.
	Target string
	// Revision is the config repo revision read; empty if reading failed.
	Revision string
	// Images are the container images found in the manifests.
	Images []string
	// Resources are the per-resource results, applied and pruned; empty when the sync was
	// refused or failed before applying.
	Resources []ResourceResult
	// Health is the worst health of the applied resources; empty if nothing was applied.
	Health Health
	// LiveReads is how many objects were read from the API server to assess health; the rest
	// came from the cluster cache.
	LiveReads int
	// Started is when the sync began, and Duration how long it took.
	Started  time.Time
	Duration time.Duration
	// Err is the error SyncOnce returned with this result, for reporters.
	Err error
}

// ResourceResult is what happened to one resource.
type ResourceResult struct {
	Group, Version, Kind, Namespace, Name string
	// Status says whether it was applied, pruned or failed, and Message why.
	Status  SyncStatus
	Message string
	// Health is the resource's health just after the sync (empty for pruned resources and
	// for kinds without a health assessment, such as ConfigMaps).
	Health        Health
	HealthMessage string
}

// String is "Kind namespace/name".
func (r ResourceResult) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// SyncOnce syncs t once: read the source, parse, refuse unpinned images, verify images, mark
// the objects as t's, apply them server-side and prune t's objects that are gone, then
// assess health. Nothing is applied if any step before applying fails. A policy refusal
// wraps ErrRefused.
func (s *Syncer) SyncOnce(ctx context.Context, t Target) (Result, error) {
	return s.sync(ctx, t, true)
}

// sync syncs t once. Unless full is set, a sync that finds the same files the last successful
// sync applied, and no drift reported since, applies nothing: it reassesses health from the
// cluster cache (the nudges of a rollout in progress). The Run loop's interval syncs are full.
func (s *Syncer) sync(ctx context.Context, t Target, full bool) (Result, error) {
	r := Result{Target: t.Name, Started: time.Now()}
	err := s.syncOnce(ctx, t, &r, full)
	if err != nil {
		err = fmt.Errorf("sync %s: %w", t.Name, err)
	}
	r.Duration, r.Err = time.Since(r.Started), err
	return r, err
}

func (s *Syncer) syncOnce(ctx context.Context, t Target, r *Result, full bool) error {
	if t.Name == "" {
		return fmt.Errorf("target without a name")
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()

	rev, files, err := s.src.Read(ctx, t.Branch, t.Dir)
	if err != nil {
		return fmt.Errorf("read %s:%s: %w", t.Branch, t.Dir, err)
	}
	r.Revision = rev
	digest := filesDigest(files)
	objs, err := parse(files)
	if err != nil {
		return fmt.Errorf("parse manifests at %s: %w", shortRev(rev), err)
	}
	r.Images = images(objs)
	if bad := unpinned(r.Images); len(bad) > 0 {
		return fmt.Errorf("%w: images not pinned by digest (@sha256:...): %s", ErrRefused, strings.Join(bad, ", "))
	}
	if err := s.cache.EnsureSynced(); err != nil {
		return fmt.Errorf("sync cluster cache: %w", err)
	}
	for _, o := range objs {
		if err := s.setNamespace(o, t.Namespace); err != nil {
			return err
		}
		mark(o, t.Name)
	}
	s.mu.Lock()
	prev := s.last[t.Name]
	dirty := s.dirty[t.Name]
	delete(s.dirty, t.Name) // drift reported from now on calls for another full sync
	s.mu.Unlock()
	// The files the last successful sync applied: applying them again changes nothing (or
	// repairs drift), so the cluster cache is current and every health comes from it.
	unchanged := prev.ok && prev.digest == digest
	var res []common.ResourceSyncResult
	if unchanged && !full && !dirty {
		res = unchangedResults(objs)
	} else {
		if s.opts.verifier != nil && len(r.Images) > 0 {
			if err := s.opts.verifier.VerifyImages(ctx, r.Images); err != nil {
				return fmt.Errorf("%w: image verification: %w", ErrRefused, err)
			}
		}
		res, err = s.apply(ctx, t.Name, objs, rev, t.Namespace)
	}
	cached, lerr := s.liveObjs(ctx, t.Name, objs)
	if lerr != nil && err == nil {
		err = lerr
	}
	r.Resources, r.LiveReads = s.results(ctx, res, cached, unchanged)
	r.Health = worst(r.Resources)
	s.mu.Lock()
	s.last[t.Name] = outcome{revision: rev, digest: digest, health: r.Health, ok: err == nil && !failed(r.Resources)}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("apply %s: %w", shortRev(rev), err)
	}
	for _, rr := range r.Resources {
		if rr.Status == StatusSyncFailed {
			return fmt.Errorf("apply %s: %s: %s", shortRev(rev), rr, rr.Message)
		}
	}
	return nil
}

// unchangedResults are the results of a sync that applies nothing: every object synced.
func unchangedResults(objs []*unstructured.Unstructured) []common.ResourceSyncResult {
	out := make([]common.ResourceSyncResult, 0, len(objs))
	for _, o := range objs {
		out = append(out, common.ResourceSyncResult{ResourceKey: kube.GetResourceKey(o), Version: o.GroupVersionKind().Version,
			Status: common.ResultCodeSynced, Message: "unchanged"})
	}
	return out
}

func (s *Syncer) syncOptions() []gsync.SyncOpt {
	policy := metav1.DeletePropagationBackground
	if s.opts.foregroundGC {
		policy = metav1.DeletePropagationForeground
	}
	return []gsync.SyncOpt{
		gsync.WithPrune(true),
		gsync.WithServerSideApply(true),
		gsync.WithServerSideApplyManager(s.opts.fieldManager),
		gsync.WithPrunePropagationPolicy(&policy),
		gsync.WithLogr(s.elog),
		// The API server validates every apply; kubectl's client-side validation would fetch
		// the OpenAPI schema on every sync. Objects are only ever server-side applied, so there
		// are no client-side-apply field managers to migrate.
		gsync.WithManifestValidation(false),
		gsync.WithClientSideApplyMigration(false, ""),
	}
}

// setNamespace gives a namespaced obj without a namespace the target's, so that the keys
// gitops-engine matches live objects by are the ones the apply will produce.
func (s *Syncer) setNamespace(obj *unstructured.Unstructured, ns string) error {
	if obj.GetNamespace() != "" {
		return nil
	}
	namespaced, err := s.cache.IsNamespaced(obj.GroupVersionKind().GroupKind())
	if err != nil || !namespaced {
		// An unknown kind (a CRD applied in this same sync) is left to gitops-engine.
		return nil
	}
	if ns == "" {
		return fmt.Errorf("%s %s has no metadata.namespace and the target sets none", obj.GetKind(), obj.GetName())
	}
	obj.SetNamespace(ns)
	return nil
}

// mark annotates obj as belonging to target, which is what makes it prunable later.
func mark(obj *unstructured.Unstructured, target string) {
	a := maps.Clone(obj.GetAnnotations())
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationTarget] = target
	obj.SetAnnotations(a)
}

// results converts gitops-engine's results and assesses the health of each live object. The
// live object comes from the cluster cache, except for workloads after a sync of a new
// revision: the cache may not have seen the apply yet, and a rollout that has not started
// would look Healthy. Those, and objects the cache does not hold, are read from the API
// server; reads counts them.
func (s *Syncer) results(ctx context.Context, res []common.ResourceSyncResult, cached map[kube.ResourceKey]*unstructured.Unstructured, cacheIsCurrent bool) (out []ResourceResult, reads int) {
	gvrs := s.apiResources()
	out = make([]ResourceResult, 0, len(res))
	for _, rs := range res {
		k := rs.ResourceKey
		rr := ResourceResult{
			Group: k.Group, Version: rs.Version, Kind: k.Kind, Namespace: k.Namespace, Name: k.Name,
			Status: SyncStatus(rs.Status), Message: rs.Message,
		}
		// gitops-engine keys cluster-scoped objects with the sync's namespace too.
		if info, ok := gvrs[k.GroupKind()]; ok && !info.Meta.Namespaced {
			rr.Namespace = ""
		}
		if rr.Status == StatusSynced {
			live := cached[kube.NewResourceKey(rr.Group, rr.Kind, rr.Namespace, rr.Name)]
			if live == nil || !cacheIsCurrent && rollsOut[schema.GroupKind{Group: rr.Group, Kind: rr.Kind}] {
				live = nil
				reads++
			}
			rr.Health, rr.HealthMessage = s.health(ctx, gvrs, rr, live)
		}
		out = append(out, rr)
	}
	return out, reads
}

// rollsOut are the kinds whose health follows a rollout that an apply starts.
var rollsOut = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}: true, {Group: "apps", Kind: "ReplicaSet"}: true,
	{Group: "batch", Kind: "Job"}: true, {Group: "", Kind: "Pod"}: true,
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: true,
}

// health assesses live, or if it is nil the object read from the API server.
func (s *Syncer) health(ctx context.Context, gvrs map[schema.GroupKind]kube.APIResourceInfo, rr ResourceResult, live *unstructured.Unstructured) (Health, string) {
	if live == nil {
		info, ok := gvrs[schema.GroupKind{Group: rr.Group, Kind: rr.Kind}]
		if !ok {
			return HealthUnknown, "unknown resource type"
		}
		gvr := info.GroupVersionResource
		if rr.Version != "" {
			gvr.Version = rr.Version
		}
		var err error
		if info.Meta.Namespaced {
			live, err = s.dyn.Resource(gvr).Namespace(rr.Namespace).Get(ctx, rr.Name, metav1.GetOptions{})
		} else {
			live, err = s.dyn.Resource(gvr).Get(ctx, rr.Name, metav1.GetOptions{})
		}
		switch {
		case apierrors.IsNotFound(err):
			return HealthMissing, "not found after sync"
		case err != nil:
			return HealthUnknown, err.Error()
		}
	}
	hs, err := health.GetResourceHealth(live, nil)
	switch {
	case err != nil:
		return HealthUnknown, err.Error()
	case hs == nil:
		return "", ""
	}
	return Health(hs.Status), hs.Message
}

// failed reports whether any resource failed to sync.
func failed(rs []ResourceResult) bool {
	for _, r := range rs {
		if r.Status == StatusSyncFailed {
			return true
		}
	}
	return false
}

// worst is the least healthy of rs, or empty if none has a health.
func worst(rs []ResourceResult) Health {
	var w Health
	for _, r := range rs {
		if r.Health == "" {
			continue
		}
		if w == "" || health.IsWorse(health.HealthStatusCode(w), health.HealthStatusCode(r.Health)) {
			w = r.Health
		}
	}
	return w
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
