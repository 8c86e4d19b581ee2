// Package devenv composes Slipway's embedded default in one process: a local control plane,
// Tekton's and Slipway's CRDs, an OCI registry, a Git server holding the config repo, Slipway's
// controllers, the local runner, the syncer and the webhook receiver. `slipway dev`, the
// end-to-end tests and `make demo` all start it.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"slipway.dev/slipway/engine/appstatus"
	"slipway.dev/slipway/engine/baseimage"
	"slipway.dev/slipway/engine/configcommit"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/crds"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/engine/kubescheme"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/localrunner"
	"slipway.dev/slipway/engine/registry"
	"slipway.dev/slipway/engine/release"
	"slipway.dev/slipway/engine/retention"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/syncer"
	"slipway.dev/slipway/engine/tektonexec"
	"slipway.dev/slipway/engine/trigger"
	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/providers"
)

// ConfigRepo is the name of the config repository on the embedded Git server, and ConfigBranch
// the branch Slipway commits to.
const (
	ConfigRepo   = "config"
	ConfigBranch = "main"
)

// Options configures Start.
type Options struct {
	// Dir holds all state; starting again on the same Dir resumes.
	Dir string
	// K8sBinDir holds the control plane's binaries (see localkube.BinDir).
	K8sBinDir string
	// SlipwayBinary is the slipway executable the local runner runs for Slipway's own steps.
	SlipwayBinary string
	// Namespace holds Applications and Deliveries; "default" if empty.
	Namespace string
	// Ports pins listeners; zero fields keep the ports chosen on the first start.
	Ports Ports
	// SyncInterval is the syncer's periodic resync (default 30 s).
	SyncInterval time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is told about each start-up stage as it completes.
	Progress func(stage string, elapsed time.Duration)
	// Tools is the directory of the supply-chain tools pipeline steps use (the Kaniko
	// executor, the CNB lifecycle and launcher, trivy; see hack/sctools). Without it, builds
	// other than the Go fast path and scans fail with a message naming the missing tool.
	Tools string
	// TrivyDB is the vulnerability database mirror scans use: a directory or
	// oci://REPOSITORY[:TAG]. Without it, scans fail and say so.
	TrivyDB string
	// Builder is the buildpacks builder (a directory laid out like a builder's /cnb) for
	// Applications that name none.
	Builder string
	// AllowHostSteps lets the local runner run steps whose image it has no local binary or
	// sandbox for directly on the host (localrunner.HostSteps.AllowHostSteps).
	AllowHostSteps bool
}

// Env is a running dev environment.
type Env struct {
	// Kubeconfig is the admin kubeconfig's path.
	Kubeconfig string
	// WebhookURL is the receiver's base URL; providers post to WebhookURL/hooks/<provider>.
	WebhookURL string
	// GitURL is the Git server's base URL; repositories are GitURL/<name>.git.
	GitURL string
	// Registry is the registry's host:port.
	Registry string
	// BaseImage is the Go fast path's base image, by digest.
	BaseImage string
	// LogDir holds step logs.
	LogDir string
	// Namespace holds Applications and Deliveries.
	Namespace string

	cluster  *localkube.Cluster
	cfg      *rest.Config
	client   client.Client
	git      *gitserver.Server
	reg      *registry.Registry
	servers  []*http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errs     chan error
	stopOnce sync.Once
}

// Start brings the whole environment up and returns once every part is serving. The
// controllers run until ctx ends or Close is called.
func Start(ctx context.Context, o Options) (_ *Env, err error) {
	if o.Dir == "" || o.K8sBinDir == "" || o.SlipwayBinary == "" {
		return nil, errors.New("devenv: Dir, K8sBinDir and SlipwayBinary are required")
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 30 * time.Second
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	begin := time.Now()
	stage := func(s string) {
		if o.Progress != nil {
			o.Progress(s, time.Since(begin))
		}
	}
	ports, err := loadPorts(dir, o.Ports)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}

	e := &Env{Namespace: o.Namespace, LogDir: filepath.Join(dir, "logs"), errs: make(chan error, 8)}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()

	e.cluster, err = localkube.Start(ctx, localkube.Options{
		BinDir: o.K8sBinDir, StateDir: filepath.Join(dir, "cluster"), Components: localkube.Full,
		APIServerPort: ports.APIServer, Logger: o.Logger.With("component", "localkube"),
	})
	if err != nil {
		return nil, fmt.Errorf("devenv: start control plane: %w", err)
	}
	e.cfg, e.Kubeconfig = e.cluster.Config(), e.cluster.KubeconfigPath()
	stage("control plane ready")

	tekton, err := crds.Tekton()
	if err != nil {
		return nil, err
	}
	ours, err := crds.Slipway()
	if err != nil {
		return nil, err
	}
	if err := localkube.InstallCRDs(ctx, e.cfg, append(tekton, ours...)...); err != nil {
		return nil, fmt.Errorf("devenv: install CRDs: %w", err)
	}
	stage("CRDs established")

	e.reg, err = registry.Start(ctx, registry.Options{Dir: filepath.Join(dir, "registry"),
		Addr: fmt.Sprintf("127.0.0.1:%d", ports.Registry), Logger: o.Logger.With("component", "registry")})
	if err != nil {
		return nil, fmt.Errorf("devenv: start registry: %w", err)
	}
	e.Registry = e.reg.Host()
	base, err := baseimage.PushBusybox(ctx, e.Registry+"/slipway/base:busybox", baseimage.Options{Insecure: true})
	if err != nil {
		return nil, fmt.Errorf("devenv: push base image: %w", err)
	}
	e.BaseImage = base.Ref
	stage("registry serving")

	runCtx, cancel := context.WithCancel(ctx)
	e.cancel = cancel

	var sy *syncer.Syncer
	e.git = gitserver.New(filepath.Join(dir, "git"), gitserver.WithLogger(o.Logger.With("component", "gitserver")),
		gitserver.WithPushHook(func(repo string) {
			if repo == ConfigRepo && sy != nil {
				sy.Notify()
			}
		}))
	if err := e.git.Init(ConfigRepo, ConfigBranch); err != nil {
		return nil, fmt.Errorf("devenv: init config repo: %w", err)
	}
	gl, err := listen("git server", ports.Git)
	if err != nil {
		return nil, err
	}
	e.GitURL = "http://" + gl.Addr().String()
	e.serve(gl, e.git)
	stage("git server serving")

	writer, err := configrepo.New(e.GitURL+"/"+ConfigRepo+".git", filepath.Join(dir, "configrepo"),
		configrepo.Author{Name: "Slipway", Email: "slipway@localhost"}, configrepo.WithLogger(o.Logger.With("component", "configrepo")))
	if err != nil {
		return nil, fmt.Errorf("devenv: config repo writer: %w", err)
	}

	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	mgrCfg := rest.CopyConfig(e.cfg)
	mgrCfg.QPS, mgrCfg.Burst = 300, 600
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 logrFromSlog(o.Logger.With("component", "controller-runtime")),
		// Controller names must otherwise be unique in the process; tests start several.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("devenv: controller manager: %w", err)
	}
	e.client = mgr.GetClient()

	direct, err := client.New(e.cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("devenv: client: %w", err)
	}
	pub, err := ensureSigningKey(ctx, direct, o.Namespace)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	verifier, err := sign.NewVerifier([][]byte{pub}, sign.WithInsecureRegistry(), sign.WithLogger(o.Logger.With("component", "verify")))
	if err != nil {
		return nil, fmt.Errorf("devenv: signature verifier: %w", err)
	}

	tg := &appstatus.Reporter{Client: mgr.GetClient(), Branch: ConfigBranch, Log: o.Logger.With("component", "status")}
	sy, err = syncer.New(e.cfg, writer, syncer.WithInterval(o.SyncInterval), syncer.WithGarbageCollector(true),
		syncer.WithLogger(o.Logger.With("component", "syncer")), syncer.WithReporter(tg.Report), syncer.WithVerifier(verifier))
	if err != nil {
		return nil, fmt.Errorf("devenv: syncer: %w", err)
	}
	tg.Syncer = sy

	// The local runner executes the runs the trigger submits through Tekton's clientset.
	runs, err := tektonexec.New(mgrCfg)
	if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	setups := []interface{ SetupWithManager(ctrl.Manager) error }{
		&trigger.Reconciler{Client: mgr.GetClient(), Runs: runs, Log: o.Logger.With("component", "trigger"), Config: trigger.Config{
			Registry: e.Registry, InsecureRegistry: true, BaseImage: e.BaseImage, Executor: trigger.ExecutorLocal,
			SigningKeySecret: SigningKeySecret, TrivyDB: o.TrivyDB, Builder: o.Builder,
		}},
		&release.Reconciler{Client: mgr.GetClient(), Log: o.Logger.With("component", "release")},
		&deploy.Reconciler{Client: mgr.GetClient(), Renderer: renderer{}, Committer: configcommit.New(writer, ConfigBranch),
			Notifier: sy, Log: o.Logger.With("component", "deploy")},
		&retention.Reconciler{Client: mgr.GetClient(), Log: o.Logger.With("component", "retention")},
		&inbox.PolicyReconciler{Client: mgr.GetClient()},
		tg,
	}
	for _, s := range setups {
		if err := s.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("devenv: set up controllers: %w", err)
		}
	}

	runner := localrunner.NewController(mgr.GetClient(), Resolver{}, localrunner.Options{
		WorkRoot:   filepath.Join(dir, "runs"),
		VolumeRoot: filepath.Join(dir, "volumes"),
		LogRoot:    e.LogDir,
		Steps:      hostSteps(o),
		Logger:     o.Logger.With("component", "localrunner"),
	})

	e.goRun(func() error { return mgr.Start(runCtx) })
	e.goRun(func() error { return sy.Run(runCtx) })
	e.goRun(func() error { return runner.Run(runCtx) })
	e.goRun(func() error { tg.Nudge(runCtx, time.Second); return nil })
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, errors.New("devenv: controller caches did not sync")
	}
	stage("controllers running")

	// The receiver writes one Delivery per webhook and must not queue behind a client-side rate
	// limiter: the API server's own flow control protects it.
	inboxCfg, err := inbox.WriterConfig(e.cfg, webhooks.DefaultMaxInFlight)
	if err != nil {
		return nil, fmt.Errorf("devenv: inbox client: %w", err)
	}
	inboxWriter, err := client.New(inboxCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("devenv: inbox client: %w", err)
	}
	in := &inbox.Inbox{Writer: inboxWriter, Reader: mgr.GetClient(), Namespace: o.Namespace}
	reg := prometheus.NewRegistry()
	recv, err := webhooks.New(in, in, providers.All(),
		webhooks.WithLogger(o.Logger.With("component", "webhooks")), webhooks.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("devenv: webhook receiver: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", recv)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	wl, err := listen("webhooks", ports.Webhooks)
	if err != nil {
		return nil, err
	}
	e.WebhookURL = "http://" + wl.Addr().String()
	e.serveWith(wl, webhooks.NewServer(wl.Addr().String(), mux))
	stage("webhook receiver serving")
	return e, nil
}

// Scheme returns the runtime scheme Slipway's clients use: Kubernetes, Tekton and Slipway.
func Scheme() (*runtime.Scheme, error) { return kubescheme.New() }

// Client returns a client for the environment's cluster.
func (e *Env) Client() client.Client { return e.client }

// RESTConfig returns the admin rest.Config of the environment's cluster.
func (e *Env) RESTConfig() *rest.Config { return rest.CopyConfig(e.cfg) }

// InitRepo creates a bare repository on the embedded Git server and returns its clone URL.
func (e *Env) InitRepo(name string) (string, error) {
	if err := e.git.Init(name, "main"); err != nil {
		return "", err
	}
	return e.GitURL + "/" + name + ".git", nil
}

// Err reports the first failure of a background part; the environment should then be closed.
func (e *Env) Err() <-chan error { return e.errs }

func (e *Env) goRun(f func() error) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := f(); err != nil {
			select {
			case e.errs <- err:
			default:
			}
		}
	}()
}

func (e *Env) serve(l net.Listener, h http.Handler) {
	e.serveWith(l, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second})
}

func (e *Env) serveWith(l net.Listener, srv *http.Server) {
	e.servers = append(e.servers, srv)
	e.goRun(func() error {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve %s: %w", l.Addr(), err)
		}
		return nil
	})
}

// Close stops everything in reverse order of start and waits for it.
func (e *Env) Close() error {
	var errs []error
	e.stopOnce.Do(func() {
		// Shutdown needs a context of its own: the caller's is usually already done.
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second) //nolint:contextcheck
		defer cancel()
		for _, s := range e.servers {
			errs = append(errs, s.Shutdown(shutdown))
		}
		if e.cancel != nil {
			e.cancel()
		}
		e.wg.Wait()
		if e.reg != nil {
			errs = append(errs, e.reg.Close(shutdown))
		}
		if e.cluster != nil {
			errs = append(errs, e.cluster.Stop())
		}
	})
	return errors.Join(errs...)
}
