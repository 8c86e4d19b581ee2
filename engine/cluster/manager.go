package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"slipway.dev/slipway/engine/kubescheme"
)

// newManager returns a controller-runtime manager serving /healthz and /readyz on
// c.HealthAddr (ready once its caches have synced), metrics on c.MetricsAddr, electing a
// leader with the lease leaseName in c.Namespace when c.LeaderElect is set, and caching only
// c.ApplicationNamespaces when they are given.
func newManager(c Common, component, leaseName string) (ctrl.Manager, error) {
	if c.Kube == nil {
		return nil, fmt.Errorf("%s: no Kubernetes API configuration", component)
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(c.Kube)
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "slipway-" + component
	opts := ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: c.MetricsAddr},
		HealthProbeBindAddress:        c.HealthAddr,
		LeaderElection:                c.LeaderElect,
		LeaderElectionID:              leaseName,
		LeaderElectionNamespace:       c.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Logger:                        logr.FromSlogHandler(c.logger().With("component", "controller-runtime").Handler()),
		// Controller names must otherwise be unique in the process; they name metrics only.
		// A deployment runs one manager per process, tests (and an all-in-one process) more.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if len(c.ApplicationNamespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range c.ApplicationNamespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: controller manager: %w", component, err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("%s: health check: %w", component, err)
	}
	if err := mgr.AddReadyzCheck("caches", cachesSynced(mgr)); err != nil {
		return nil, fmt.Errorf("%s: readiness check: %w", component, err)
	}
	return mgr, nil
}

// cachesSynced is ready once the manager's informers have synced.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("caches have not synced")
		}
		return nil
	}
}

// runnable adapts f to a manager Runnable that runs on every replica when everywhere is
// set, and on the elected leader only otherwise.
type runnable struct {
	f          func(context.Context) error
	everywhere bool
}

func (r runnable) Start(ctx context.Context) error { return r.f(ctx) }
func (r runnable) NeedLeaderElection() bool        { return !r.everywhere }

var _ manager.LeaderElectionRunnable = runnable{}

func (c Common) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
