package syncer

import (
	"bytes"
	"slices"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/cache"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// onResourceUpdated is called by the cluster cache for every change it sees. A change to an
// object a target applied nudges that target when
//   - the object was deleted, or its desired state (spec, data, labels...) was changed by a
//     writer other than the syncer: drift, repaired by the sync the nudge starts;
//   - the target's last sync did not find it Healthy, or has not finished yet (its health read
//     may predate this change): its health is reassessed at once instead of at the next
//     interval.
//
// Objects created by a controller on behalf of an applied object (ReplicaSets and Pods, which
// inherit the Deployment's annotations) are never the syncer's and are ignored.
func (s *Syncer) onResourceUpdated(newRes, oldRes *cache.Resource, _ map[kube.ResourceKey]*cache.Resource) {
	if t := s.changedTarget(newRes, oldRes); t != "" {
		s.Notify(t)
	}
}

// changedTarget returns the target an event should nudge, or "".
func (s *Syncer) changedTarget(newRes, oldRes *cache.Resource) string {
	if oldRes == nil {
		return "" // created: only syncs create what a target owns
	}
	target := targetOf(oldRes)
	if target == "" || len(oldRes.OwnerRefs) > 0 {
		return ""
	}
	if newRes == nil {
		return target // deleted behind the syncer's back, or pruned (one cheap no-op sync)
	}
	s.mu.Lock()
	last, known := s.last[target]
	s.mu.Unlock()
	if !known || last.health != HealthHealthy {
		return target
	}
	if drifted(newRes.Resource, oldRes.Resource, s.opts.fieldManager) {
		return target
	}
	return ""
}

func targetOf(r *cache.Resource) string {
	if info, ok := r.Info.(*resourceInfo); ok {
		return info.target
	}
	return ""
}

// drifted reports whether the change from o to n altered the object's desired state and was
// made by someone other than manager. Kinds with a generation bump it on every change to their
// spec; for the others (ConfigMaps, Services...) everything but the status and bookkeeping
// metadata is compared.
func drifted(n, o *unstructured.Unstructured, manager string) bool {
	if n == nil || o == nil {
		return false
	}
	if n.GetGeneration() != 0 || o.GetGeneration() != 0 {
		if n.GetGeneration() == o.GetGeneration() {
			return false
		}
	} else if equality.Semantic.DeepEqual(desired(n), desired(o)) {
		return false
	}
	ws := writers(n, o)
	return len(ws) == 0 || slices.ContainsFunc(ws, func(w string) bool { return w != manager })
}

// desired is obj without its status and the metadata the API server maintains.
func desired(obj *unstructured.Unstructured) map[string]any {
	c := obj.DeepCopy()
	delete(c.Object, "status")
	for _, f := range []string{"resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	return c.Object
}

// writers are the field managers whose entries in the object's managed fields differ between o
// and n: who made the change from o to n. Status writes are left out; writes through other
// subresources are not (`kubectl scale` changes spec.replicas through /scale, in an entry
// that has no time). None means the change cannot be told apart from the entries (two writes
// by one manager within the one-second resolution of their times): a needless sync is cheap
// where a missed repair is not.
func writers(n, o *unstructured.Unstructured) []string {
	type key struct{ manager, operation, subresource string }
	before := map[key]metav1.ManagedFieldsEntry{}
	for _, m := range o.GetManagedFields() {
		before[key{m.Manager, string(m.Operation), m.Subresource}] = m
	}
	var out []string
	for _, m := range n.GetManagedFields() {
		if m.Subresource == "status" {
			continue
		}
		if prev, ok := before[key{m.Manager, string(m.Operation), m.Subresource}]; ok && sameEntry(prev, m) {
			continue
		}
		if !slices.Contains(out, m.Manager) {
			out = append(out, m.Manager)
		}
	}
	return out
}

func sameEntry(a, b metav1.ManagedFieldsEntry) bool {
	if (a.Time == nil) != (b.Time == nil) || a.Time != nil && !a.Time.Equal(b.Time) || a.APIVersion != b.APIVersion {
		return false
	}
	if (a.FieldsV1 == nil) != (b.FieldsV1 == nil) {
		return false
	}
	return a.FieldsV1 == nil || bytes.Equal(a.FieldsV1.Raw, b.FieldsV1.Raw)
}
