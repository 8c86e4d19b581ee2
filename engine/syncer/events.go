package syncer

import (
	"slices"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/cache"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
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
	if oldRes != nil {
		if was := targetOf(oldRes); was != "" && (newRes == nil || targetOf(newRes) != was) {
			s.unindex(was, oldRes.ResourceKey())
		}
	}
	t, dirty := s.changedTarget(newRes, oldRes)
	if t == "" {
		return
	}
	if dirty {
		s.mu.Lock()
		s.dirty[t] = true // the sync the nudge starts must apply, not only reassess health
		s.mu.Unlock()
	}
	s.Notify(t)
}

// changedTarget returns the target an event should nudge, or "", and whether the event was
// drift (or a deletion) that a sync must repair.
func (s *Syncer) changedTarget(newRes, oldRes *cache.Resource) (target string, dirty bool) {
	if oldRes == nil {
		return "", false // created: only syncs create what a target owns
	}
	target = targetOf(oldRes)
	if target == "" || len(oldRes.OwnerRefs) > 0 {
		return "", false
	}
	if newRes == nil {
		return target, true // deleted behind the syncer's back, or pruned (one cheap no-op sync)
	}
	if drifted(infoOf(newRes), infoOf(oldRes), s.opts.fieldManager) {
		return target, true
	}
	s.mu.Lock()
	last, known := s.last[target]
	s.mu.Unlock()
	if !known || last.health != HealthHealthy {
		return target, false
	}
	return "", false
}

func targetOf(r *cache.Resource) string {
	if info, ok := r.Info.(*resourceInfo); ok {
		return info.target
	}
	return ""
}

func infoOf(r *cache.Resource) *resourceInfo {
	if info, ok := r.Info.(*resourceInfo); ok {
		return info
	}
	return notOurs
}

// drifted reports whether the change from o to n altered the object's desired state and was
// made by someone other than manager. Kinds with a generation bump it on every change to their
// spec; for the others (ConfigMaps, Services...) everything but the status and bookkeeping
// metadata is compared.
func drifted(n, o *resourceInfo, manager string) bool {
	if n.generation != 0 || o.generation != 0 {
		if n.generation == o.generation {
			return false
		}
	} else if n.desired == o.desired {
		return false
	}
	ws := changedWriters(n.writers, o.writers)
	return len(ws) == 0 || slices.ContainsFunc(ws, func(w string) bool { return w != manager })
}

// changedWriters are the field managers whose entries in the object's managed fields differ
// between o and n: who made the change from o to n. Status writes are left out (see
// writersOf). None means the change cannot be told apart from the entries (two writes by one
// manager within the one-second resolution of their times): a needless sync is cheap where a
// missed repair is not.
func changedWriters(n, o []fieldWriter) []string {
	var out []string
	for _, w := range n {
		if slices.Contains(o, w) || slices.Contains(out, w.manager) {
			continue
		}
		out = append(out, w.manager)
	}
	return out
}
