package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/cache"
	gsync "github.com/argoproj/argo-cd/gitops-engine/pkg/sync"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/sync/common"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// waveRecheck bounds how long a sync with several waves waits for a cache event before it
// looks again at whether the running wave is Healthy.
const waveRecheck = time.Second

// apply runs one gitops-engine sync operation over objs to completion.
//
// gitops-engine's engine.Sync reconciles the live state once, before the operation starts, so
// objects created by an early sync wave stay "missing" to it and an operation with several
// waves never finishes. apply does what Argo CD's application controller does instead: every
// step of the operation starts from a fresh reconciliation against the cluster cache and the
// state the previous step left (WithInitialState). A step runs when the cache reports a change
// to one of the target's objects, or after waveRecheck.
func (s *Syncer) apply(ctx context.Context, target string, objs []*unstructured.Unstructured, rev, ns string) ([]common.ResourceSyncResult, error) {
	keys := make(map[kube.ResourceKey]bool, len(objs))
	for _, o := range objs {
		keys[kube.GetResourceKey(o)] = true
	}
	changed := make(chan struct{}, 1)
	unsubscribe := s.cache.OnResourceUpdated(func(newRes, oldRes *cache.Resource, _ map[kube.ResourceKey]*cache.Resource) {
		r := newRes
		if r == nil {
			r = oldRes
		}
		if keys[r.ResourceKey()] || targetOf(r) == target {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
	defer unsubscribe()

	var (
		phase   common.OperationPhase
		message string
		results []common.ResourceSyncResult
		started = metav1.Now()
	)
	for {
		live, err := s.liveObjs(ctx, target, objs)
		if err != nil {
			return results, fmt.Errorf("read live objects: %w", err)
		}
		rec := gsync.Reconcile(objs, live, ns, s.cache)
		opts := append(s.syncOptions(), gsync.WithSkipHooks(true))
		if phase != "" {
			opts = append(opts, gsync.WithInitialState(phase, message, results, started))
		}
		sc, cleanup, err := gsync.NewSyncContext(rev, rec, s.cfg, s.cfg, s.kubectl, ns, opts...)
		if err != nil {
			return results, fmt.Errorf("new sync operation: %w", err)
		}
		sc.Sync()
		phase, message, results = sc.GetState()
		cleanup()
		if phase.Completed() {
			if phase == common.OperationError {
				return results, fmt.Errorf("sync operation failed: %s", message)
			}
			return results, nil
		}
		select {
		case <-ctx.Done():
			return results, ctx.Err()
		case <-changed:
		case <-time.After(waveRecheck):
		}
	}
}
