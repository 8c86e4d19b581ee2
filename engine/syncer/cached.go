package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/cache"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/health"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// resourceInfo is what the cluster cache remembers about every object it watches beyond its
// identity. For the syncer's own objects (those carrying AnnotationTarget) it holds the target
// and what drift detection compares, so that the manifests themselves can be kept small.
type resourceInfo struct {
	target     string
	generation int64
	// desired hashes the object without its status and the metadata the API server keeps, for
	// kinds without a generation.
	desired uint64
	writers []fieldWriter
}

// fieldWriter is one managed-field entry outside the status subresource. Writes through other
// subresources count: `kubectl scale` changes spec.replicas through /scale, in an entry that
// has no time.
type fieldWriter struct {
	manager, operation, subresource string
	stamp                           uint64 // hashes the entry's time, API version and fields
}

// notOurs is the info of every object no target applied; it is never modified.
var notOurs = &resourceInfo{}

// populate is the cluster cache's handler for every object it stores. Only the syncer's own
// objects keep a manifest, and only what a sync and a health assessment read: their managed
// fields are summarized in the info and dropped, and kinds without a health assessment
// (ConfigMaps, ServiceAccounts, NetworkPolicies...) keep their metadata alone. A sync needs
// the live objects' identity, annotations and owners (to prune, and for gitops-engine's
// per-object options); a thousand applications' full manifests would otherwise be most of the
// syncer's memory.
func populate(un *unstructured.Unstructured, isRoot bool) (any, bool) {
	t := un.GetAnnotations()[AnnotationTarget]
	if t == "" {
		return notOurs, false
	}
	if !isRoot {
		// Made by a controller for one of the target's objects (a Deployment's ReplicaSets
		// inherit its annotations): never applied, pruned or assessed by a sync, so no
		// manifest is kept. Two ReplicaSets per rolled-out Deployment were most of the cache.
		return &resourceInfo{target: t}, false
	}
	info := &resourceInfo{target: t, generation: un.GetGeneration(), writers: writersOf(un)}
	if info.generation == 0 {
		info.desired = desiredHash(un)
	}
	un.SetManagedFields(nil)
	if health.GetHealthCheckFunc(un.GroupVersionKind()) == nil {
		un.Object = map[string]any{"apiVersion": un.GetAPIVersion(), "kind": un.GetKind(), "metadata": un.Object["metadata"]}
	}
	return info, true
}

func writersOf(un *unstructured.Unstructured) []fieldWriter {
	var out []fieldWriter
	for _, m := range un.GetManagedFields() {
		if m.Subresource == "status" {
			continue
		}
		h := fnv.New64a()
		if m.Time != nil {
			h.Write([]byte(m.Time.UTC().Format(time.RFC3339)))
		}
		h.Write([]byte{0})
		h.Write([]byte(m.APIVersion))
		h.Write([]byte{0})
		if m.FieldsV1 != nil {
			h.Write(m.FieldsV1.Raw)
		}
		out = append(out, fieldWriter{manager: m.Manager, operation: string(m.Operation), subresource: m.Subresource, stamp: h.Sum64()})
	}
	return out
}

// desiredHash hashes un without its status and the metadata the API server maintains.
func desiredHash(un *unstructured.Unstructured) uint64 {
	c := un.DeepCopy()
	delete(c.Object, "status")
	for _, f := range []string{"resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	b, err := json.Marshal(c.Object) // map keys sorted: the same object, the same bytes
	if err != nil {
		return 0
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// populate is populate for the Syncer's cluster cache: it also indexes the manifests of the
// targets' objects. The cache calls it under its own lock.
func (s *Syncer) populate(un *unstructured.Unstructured, isRoot bool) (any, bool) {
	info, keep := populate(un, isRoot)
	t := info.(*resourceInfo).target
	switch {
	case t == "":
	case keep:
		s.ownedMu.Lock()
		if s.owned[t] == nil {
			s.owned[t] = map[kube.ResourceKey]*unstructured.Unstructured{}
		}
		s.owned[t][kube.GetResourceKey(un)] = un
		s.ownedMu.Unlock()
	default: // an object of t's that has since gained an owner is no longer one a sync applies
		s.unindex(t, kube.GetResourceKey(un))
	}
	return info, keep
}

// unindex forgets an object the cache no longer holds for target (deleted, or now another
// target's).
func (s *Syncer) unindex(target string, key kube.ResourceKey) {
	s.ownedMu.Lock()
	defer s.ownedMu.Unlock()
	delete(s.owned[target], key)
	if len(s.owned[target]) == 0 {
		delete(s.owned, target)
	}
}

// liveObjs returns what gitops-engine's GetManagedLiveObjs returns, the live state a sync of
// target's objs reconciles against: every object target applied that no other object owns, and
// the live object of each of objs that exists, from the cluster cache, read from the API server
// only when the cache holds no manifest of it (an object target does not own yet) or does not
// watch its kind. GetManagedLiveObjs scans every object in the cluster, on every sync step;
// with a thousand targets that scan was most of the syncer's work. Objects named by objs are
// copies, as gitops-engine's are.
func (s *Syncer) liveObjs(ctx context.Context, target string, objs []*unstructured.Unstructured) (map[kube.ResourceKey]*unstructured.Unstructured, error) {
	s.ownedMu.Lock()
	live := make(map[kube.ResourceKey]*unstructured.Unstructured, len(s.owned[target])+len(objs))
	for k, un := range s.owned[target] {
		if len(un.GetOwnerReferences()) == 0 {
			live[k] = un
		}
	}
	s.ownedMu.Unlock()
	for _, o := range objs {
		k := kube.GetResourceKey(o)
		if un, ok := live[k]; ok {
			live[k] = un.DeepCopy()
			continue
		}
		un, err := s.unownedLive(ctx, o, k)
		if err != nil {
			return nil, err
		}
		if un != nil {
			live[k] = un
		}
	}
	return live, nil
}

// unownedLive is the live object at k that no target owns yet, or nil if there is none.
func (s *Syncer) unownedLive(ctx context.Context, o *unstructured.Unstructured, k kube.ResourceKey) (*unstructured.Unstructured, error) {
	if _, err := s.cache.IsNamespaced(k.GroupKind()); err == nil {
		// A watched kind: the cache knows whether it exists. Namespaced keys are found through
		// the namespace's index; cluster-scoped ones (a Namespace, on an application's first
		// sync) need a scan of the cluster-scoped objects.
		found := s.cache.FindResources(k.Namespace, func(r *cache.Resource) bool { return r.ResourceKey() == k })
		if len(found) == 0 {
			return nil, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	un, err := s.kubectl.GetResource(ctx, s.cfg, o.GroupVersionKind(), k.Name, k.Namespace)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read %s %s: %w", k.Kind, k.Name, err)
	}
	return un, nil
}
