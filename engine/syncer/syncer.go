// Package syncer applies the config repo to a cluster with gitops-engine: it refuses images
// that are not pinned by digest or fail verification, server-side applies, prunes what it
// applied before and no longer finds, and reports per-resource results and health.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/cache"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/tracing"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"slipway.dev/slipway/engine/manifest"
)

// AnnotationTarget marks every object the syncer applies with the name of its Target. Only
// objects carrying the annotation with a target's name are ever pruned for that target.
const AnnotationTarget = "slipway.dev/sync-target"

// ErrRefused is wrapped by errors that stop a sync before anything is applied because the
// manifests break policy: an image not pinned by digest, or one the Verifier rejects.
var ErrRefused = errors.New("sync refused")

// Source reads the manifests of one directory of the config repo at the tip of a branch.
type Source interface {
	Read(ctx context.Context, branch, dir string) (revision string, files []manifest.File, err error)
}

// Verifier checks images (for example their signatures) before anything that runs them is
// applied. An error refuses the whole sync.
type Verifier interface {
	VerifyImages(ctx context.Context, images []string) error
}

// Target is one directory of the config repo synced to the cluster.
type Target struct {
	// Name identifies the target; it is written to AnnotationTarget, so it must be unique in
	// the cluster and stable for the target's lifetime.
	Name string
	// Branch is the config repo branch read.
	Branch string
	// Dir is the directory in the config repo, for example environments/dev/hello.
	Dir string
	// Namespace is given to namespaced objects that name none.
	Namespace string
}

// Reporter receives the result of every sync the Run loop performs, for example to write
// status back to the resources that asked for the target.
type Reporter func(ctx context.Context, t Target, r Result)

// failedRetry is how soon a target whose sync failed is synced again.
const failedRetry = 10 * time.Second

// Option configures a Syncer.
type Option func(*options)

type options struct {
	interval     time.Duration
	timeout      time.Duration
	concurrency  int
	verifier     Verifier
	reporter     Reporter
	log          *slog.Logger
	fieldManager string
	foregroundGC bool
	targets      []Target
}

func defaults() options {
	return options{
		interval:     30 * time.Second,
		timeout:      5 * time.Minute,
		concurrency:  8,
		log:          slog.New(slog.DiscardHandler),
		fieldManager: "slipway",
	}
}

// WithInterval sets how often each target is synced when nothing nudges it (default 30 s).
func WithInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// WithTimeout bounds one sync of one target, reading the source included (default 5 min).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithConcurrency caps how many targets sync at the same time (default 8).
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = max(n, 1) } }

// WithVerifier checks every container image before a sync applies anything (default: none;
// images must still be pinned by digest).
func WithVerifier(v Verifier) Option { return func(o *options) { o.verifier = v } }

// WithReporter is called after every sync the Run loop performs.
func WithReporter(r Reporter) Option { return func(o *options) { o.reporter = r } }

// WithLogger sets the logger; gitops-engine's own messages go to it at debug level, except
// errors. The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithFieldManager sets the server-side apply field manager (default "slipway").
func WithFieldManager(name string) Option { return func(o *options) { o.fieldManager = name } }

// WithGarbageCollector says a kube-controller-manager runs its garbage collector, so pruning
// may use foreground propagation and wait for dependents. Without it (the default) pruning
// uses background propagation: with foreground propagation and no garbage collector a pruned
// object keeps its foregroundDeletion finalizer forever.
func WithGarbageCollector(running bool) Option { return func(o *options) { o.foregroundGC = running } }

// WithTargets sets the targets Run starts with; SetTargets replaces them later.
func WithTargets(ts ...Target) Option { return func(o *options) { o.targets = ts } }

// Syncer keeps one gitops-engine cluster cache for one cluster and syncs targets into it.
type Syncer struct {
	src     Source
	opts    options
	log     *slog.Logger
	elog    logr.Logger // gitops-engine's
	cache   cache.ClusterCache
	cfg     *rest.Config
	kubectl *directKubectl // applies through the dynamic client, the rest through kubectl
	dyn     dynamic.Interface
	sem     chan struct{}

	mu      sync.Mutex
	targets map[string]Target
	nudges  map[string]chan struct{}
	last    map[string]outcome // last sync of each target, for health reads and event nudges
	dirty   map[string]bool    // targets whose objects drifted or were deleted since their last full sync
	changed chan struct{}

	unsubscribe cache.Unsubscribe

	// owned indexes the cluster cache's manifests of each target's objects (see populate), so
	// that a sync finds its live objects without scanning every object in the cluster.
	ownedMu sync.Mutex // never held while calling into the cache
	owned   map[string]map[kube.ResourceKey]*unstructured.Unstructured
}

// outcome is what the last sync of a target found.
type outcome struct {
	revision string
	digest   string // of the directory's files (filesDigest)
	health   Health
	ok       bool
}

// New returns a Syncer for the cluster cfg points at; it talks to the cluster only once Run or
// SyncOnce is called. cfg is copied and its client rate limits raised to at least 500 QPS and a
// burst of 1000: every sync is a dozen requests (one server-side apply per object, health
// reads), so client-go's default of 5 QPS, or even 50, rather than the API server decides how
// fast a thousand targets converge. The API server's priority and fairness still protects it.
func New(cfg *rest.Config, src Source, opts ...Option) (*Syncer, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS < 500 {
		cfg.QPS = 500
	}
	if cfg.Burst < 1000 {
		cfg.Burst = 1000
	}
	// API deprecation warnings (the cache lists v1 Endpoints, for one) go to the logger, not to
	// klog's stderr.
	cfg.WarningHandlerWithContext = warnings{o.log}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("new syncer: dynamic client: %w", err)
	}
	// gitops-engine logs every sync step at info level; keep its errors, demote the rest.
	elog := logr.FromSlogHandler(o.log.With("component", "gitops-engine").Handler()).V(4)
	if hr, ok := src.(headReader); ok {
		src = newSnapshots(hr, o.timeout)
	}
	s := &Syncer{
		src:     src,
		opts:    o,
		log:     o.log,
		elog:    elog,
		cfg:     cfg,
		dyn:     dyn,
		sem:     make(chan struct{}, o.concurrency),
		targets: map[string]Target{},
		nudges:  map[string]chan struct{}{},
		last:    map[string]outcome{},
		dirty:   map[string]bool{},
		changed: make(chan struct{}, 1),
		owned:   map[string]map[kube.ResourceKey]*unstructured.Unstructured{},
	}
	s.kubectl = &directKubectl{KubectlCmd: &kube.KubectlCmd{Log: elog, Tracer: tracing.NopTracer{}}, dyn: dyn, resources: s.apiResources}
	s.cache = cache.NewClusterCache(cfg,
		cache.SetLogr(elog),
		cache.SetKubectl(s.kubectl),
		// The cache lists and watches every kind the API server serves. A syncer given only the
		// rights it needs (charts/slipway grants the kinds the app chart renders) may list few
		// of them; gitops-engine's default fails the whole cache sync on the first forbidden
		// list. Leave such kinds out instead: applying one then fails with the API server's
		// Forbidden, naming the object.
		cache.SetRespectRBAC(cache.RespectRbacNormal),
		cache.SetSettings(cache.Settings{ResourceHealthOverride: cache.NewNoopSettings(), ResourcesFilter: notSynced{}}),
		cache.SetPopulateResourceInfoHandler(s.populate),
	)
	s.unsubscribe = s.cache.OnResourceUpdated(s.onResourceUpdated)
	s.SetTargets(o.targets...)
	return s, nil
}

// SetTargets replaces the set of targets; a running Run starts and stops loops to match.
func (s *Syncer) SetTargets(ts ...Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets = make(map[string]Target, len(ts))
	for _, t := range ts {
		s.targets[t.Name] = t
		if s.nudges[t.Name] == nil {
			s.nudges[t.Name] = make(chan struct{}, 1)
		}
	}
	for name := range s.nudges {
		if _, ok := s.targets[name]; !ok {
			delete(s.nudges, name)
		}
	}
	for name := range s.last {
		if _, ok := s.targets[name]; !ok {
			delete(s.last, name)
			delete(s.dirty, name)
		}
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Notify asks the named targets, or all of them when no name is given, to sync now (for
// example after a push to the config repo). It never blocks; nudges to a target that is
// already due to sync collapse into one.
func (s *Syncer) Notify(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nudge := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if len(names) == 0 {
		for _, ch := range s.nudges {
			nudge(ch)
		}
		return
	}
	for _, n := range names {
		if ch := s.nudges[n]; ch != nil {
			nudge(ch)
		}
	}
}

// Run syncs the cluster cache, then syncs every target at the interval and whenever it is
// nudged, until ctx is done. It returns only after every loop has stopped.
func (s *Syncer) Run(ctx context.Context) error {
	start := time.Now()
	if err := s.cache.EnsureSynced(); err != nil {
		return fmt.Errorf("sync cluster cache: %w", err)
	}
	s.log.InfoContext(ctx, "cluster cache synced", "duration", time.Since(start))
	defer s.Close()

	type loop struct {
		target Target
		cancel context.CancelFunc
	}
	var wg sync.WaitGroup
	running := map[string]loop{}
	defer func() {
		for _, l := range running {
			l.cancel()
		}
		wg.Wait()
	}()
	for {
		s.mu.Lock()
		for name, l := range running {
			if t, ok := s.targets[name]; !ok || t != l.target {
				l.cancel()
				delete(running, name)
			}
		}
		for name, t := range s.targets {
			if _, ok := running[name]; ok {
				continue
			}
			lctx, cancel := context.WithCancel(ctx)
			running[name] = loop{target: t, cancel: cancel}
			nudge := s.nudges[name]
			wg.Go(func() { s.loop(lctx, t, nudge) })
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		}
	}
}

// Close stops the cluster cache's watches. Run calls it on return; call it after using
// SyncOnce without Run.
func (s *Syncer) Close() {
	s.unsubscribe()
	s.cache.Invalidate()
}

func (s *Syncer) loop(ctx context.Context, t Target, nudge <-chan struct{}) {
	tick := time.NewTicker(s.opts.interval)
	defer tick.Stop()
	log := s.log.With("target", t.Name)
	full := true // the first sync, and each at the interval, applies whatever the last one did
	for {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		r, err := s.sync(ctx, t, full)
		<-s.sem
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.ErrorContext(ctx, "sync failed", "revision", r.Revision, "error", err, "duration", r.Duration)
		} else {
			log.InfoContext(ctx, "synced", "revision", r.Revision, "resources", len(r.Resources), "health", r.Health, "duration", r.Duration)
		}
		if s.opts.reporter != nil {
			s.opts.reporter(ctx, t, r)
		}
		// A failed sync is retried soon rather than at the next interval.
		var retry <-chan time.Time
		if err != nil {
			retry = time.After(min(s.opts.interval, failedRetry))
		}
		full = false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			full = true
		case <-nudge:
		case <-retry:
		}
	}
}

// warnings logs API server warnings at debug level.
type warnings struct{ log *slog.Logger }

func (w warnings) HandleWarningHeaderWithContext(ctx context.Context, code int, agent, text string) {
	w.log.DebugContext(ctx, "API server warning", "code", code, "text", text)
}

// notSynced leaves out of the cluster cache the kinds no config repo holds: Events, which
// only record what happened and churn with every rollout.
type notSynced struct{}

func (notSynced) IsExcludedResource(group, kind, _ string) bool {
	return kind == "Event" && (group == "" || group == "events.k8s.io")
}
