// Package localkube starts and stops a local Kubernetes control plane (etcd, kube-apiserver and,
// optionally, kube-controller-manager, kube-scheduler and kwok with a fake node) for tests and for
// `slipway dev`.
package localkube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Components is a set of control-plane components to run.
type Components uint8

// The individual components. Combine them with |, or use APIServerOnly or Full.
const (
	Etcd Components = 1 << iota
	APIServer
	ControllerManager
	Scheduler
	Kwok
)

const (
	// APIServerOnly is etcd and kube-apiserver: enough for CRDs, server-side apply and clientsets.
	APIServerOnly = Etcd | APIServer
	// Full adds kube-controller-manager, kube-scheduler and kwok with the fake node kwok-node-0:
	// enough for garbage collection and for Deployments to become Available.
	Full = APIServerOnly | ControllerManager | Scheduler | Kwok
)

// Has reports whether every component in x is in c.
func (c Components) Has(x Components) bool { return c&x == x }

func (c Components) validate() error {
	if !c.Has(APIServerOnly) {
		return fmt.Errorf("components %#x: etcd and kube-apiserver are always required", uint8(c))
	}
	if c&^Full != 0 {
		return fmt.Errorf("components %#x: unknown component bits", uint8(c))
	}
	return nil
}

// FakeNodeName is the name of the kwok-managed Node that the Kwok component registers.
const FakeNodeName = "kwok-node-0"

// fieldManager is the server-side apply field manager for objects this package writes.
const fieldManager = "slipway-localkube"

// Options configures Start. BinDir and StateDir are required; the zero value of every other
// field is a sensible default.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
	// kwok-stages.yaml, as printed by hack/k8sbin/build.sh. See BinDir().
	BinDir string
	// StateDir holds everything the cluster writes: pki/, etcd-data/, run/, logs/ and the admin
	// kubeconfig. It is created if missing and reused by the next Start (resume).
	StateDir string
	// Components to run; zero means APIServerOnly.
	Components Components
	// Fresh wipes the etcd data in StateDir before starting, so the cluster starts empty.
	// Certificates are kept.
	Fresh bool
	// APIServerPort pins the kube-apiserver port so that an exported kubeconfig stays valid across
	// restarts; zero picks a free port. Every other listener always gets a free port.
	APIServerPort int
	// NoFsync runs etcd with --unsafe-no-fsync: faster on slow disks, but a host crash may lose
	// recent writes. Meant for tests.
	NoFsync bool
	// StartTimeout bounds Start (default 2 minutes) on top of the caller's context.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL (default 15 s).
	StopTimeout time.Duration
	// Logger receives progress messages; nil discards them. Component output always goes to
	// StateDir/logs/<component>.log.
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.BinDir == "" {
		return errors.New("options: BinDir is required")
	}
	if o.StateDir == "" {
		return errors.New("options: StateDir is required")
	}
	var err error
	if o.BinDir, err = filepath.Abs(o.BinDir); err != nil {
		return fmt.Errorf("options: bin dir: %w", err)
	}
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return fmt.Errorf("options: state dir: %w", err)
	}
	if o.Components == 0 {
		o.Components = APIServerOnly
	}
	if err := o.Components.validate(); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	if o.APIServerPort < 0 || o.APIServerPort > 65535 {
		return fmt.Errorf("options: APIServerPort %d out of range", o.APIServerPort)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// layout names every path under the state directory.
type layout struct {
	root, pki, etcdData, run, logs string
	adminKubeconfig, pidFile, lock string
}

func newLayout(root string) layout {
	return layout{
		root:            root,
		pki:             filepath.Join(root, "pki"),
		etcdData:        filepath.Join(root, "etcd-data"),
		run:             filepath.Join(root, "run"),
		logs:            filepath.Join(root, "logs"),
		adminKubeconfig: filepath.Join(root, "kubeconfig"),
		pidFile:         filepath.Join(root, "run", "pids.json"),
		lock:            filepath.Join(root, "lock"),
	}
}

func (l layout) kubeconfig(identity string) string {
	return filepath.Join(l.run, identity+".kubeconfig")
}

// Cluster is a running local control plane. Its processes outlive the context given to Start:
// call Stop to end them. They also receive SIGKILL if the process that started them dies.
type Cluster struct {
	opts   Options
	dirs   layout
	ports  ports
	cfg    *rest.Config
	unlock func() error

	mu       sync.Mutex // guards procs, stopping and exitErr
	procs    []*process
	stopping bool
	exitErr  error
	exitOnce sync.Once
	done     chan struct{} // closed when the first component exits

	stopOnce sync.Once
	stopErr  error
}

// Start brings up the components in opts.Components, in dependency order, and returns once each
// one reports healthy (and, with Kwok, once the fake node is Ready). On error, whatever was started
// is stopped again. Start fails with ErrStateDirInUse if another live Cluster holds opts.StateDir.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("start local cluster: %w", err)
	}
	c, err := start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start local cluster in %s: %w", opts.StateDir, err)
	}
	return c, nil
}

func start(ctx context.Context, opts Options) (c *Cluster, err error) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	if err := checkBinaries(opts.BinDir, opts.Components); err != nil {
		return nil, err
	}
	dirs := newLayout(opts.StateDir)
	for _, d := range []string{dirs.root, dirs.pki, dirs.run, dirs.logs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create state dir: %w", err)
		}
	}
	unlock, err := lockStateDir(dirs.lock)
	if err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, dirs: dirs, unlock: unlock, done: make(chan struct{})}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				opts.Logger.Warn("stop after failed start", "err", stopErr)
			}
			c = nil
		}
	}()

	if err := reapStale(ctx, dirs.pidFile, opts.StopTimeout, opts.Logger); err != nil {
		return c, err
	}
	if opts.Fresh {
		if err := os.RemoveAll(dirs.etcdData); err != nil {
			return c, fmt.Errorf("wipe etcd data: %w", err)
		}
	}
	creds, err := ensurePKI(dirs.pki, time.Now())
	if err != nil {
		return c, err
	}
	if c.ports, err = pickPorts(opts.APIServerPort); err != nil {
		return c, err
	}
	if c.cfg, err = writeKubeconfigs(dirs, creds, c.ports.apiserver); err != nil {
		return c, err
	}
	p := newProber(creds)
	defer p.close()
	for _, comp := range startOrder {
		if !opts.Components.Has(comp.bit) {
			continue
		}
		if err := c.startComponent(ctx, comp, p); err != nil {
			return c, err
		}
	}
	if err := c.waitWorkloadReady(ctx); err != nil {
		return c, err
	}
	opts.Logger.Info("local cluster ready", "components", opts.Components.String(),
		"apiserver", c.cfg.Host, "duration", time.Since(began).Round(time.Millisecond))
	return c, nil
}

// String lists the component names in c, joined by "+".
func (c Components) String() string {
	var names []string
	for _, comp := range startOrder {
		if c.Has(comp.bit) {
			names = append(names, comp.name)
		}
	}
	return strings.Join(names, "+")
}

// Config returns a copy of the admin (system:masters) client configuration, with QPS 50 and
// Burst 100 so that informer-heavy clients are not throttled.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.cfg) }

// KubeconfigPath returns the path of the admin kubeconfig in the state directory. It refers to
// the certificates by absolute path and remains usable after Stop only if the next Start uses the
// same APIServerPort.
func (c *Cluster) KubeconfigPath() string { return c.dirs.adminKubeconfig }

// StateDir returns the absolute state directory.
func (c *Cluster) StateDir() string { return c.opts.StateDir }

// LogDir returns the directory holding one <component>.log per component.
func (c *Cluster) LogDir() string { return c.dirs.logs }

// ErrStopped is what Err reports after Stop.
var ErrStopped = errors.New("local cluster stopped")

// Done returns a channel that is closed when the first component exits, on its own or through
// Stop. `slipway dev` selects on it to notice a crashed component.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Err returns nil while every component runs; after Done is closed it names the component that
// exited first and how, or returns ErrStopped if Stop ended it.
func (c *Cluster) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exitErr
}

func (c *Cluster) componentExited(p *process) {
	c.exitOnce.Do(func() {
		c.mu.Lock()
		if c.stopping {
			c.exitErr = ErrStopped
		} else {
			c.exitErr = fmt.Errorf("%s exited unexpectedly (%v); log %s", p.name, p.cmd.ProcessState, p.logPath)
			c.opts.Logger.Error("component exited unexpectedly", "component", p.name,
				"state", p.cmd.ProcessState.String(), "log", p.logPath)
		}
		c.mu.Unlock()
		close(c.done)
	})
}

// Stop ends the components in reverse start order: SIGTERM, then SIGKILL after
// Options.StopTimeout, waiting for each to exit. It keeps the state directory and is safe to call
// more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		began := time.Now()
		c.mu.Lock()
		procs := c.procs
		c.procs, c.stopping = nil, true
		c.mu.Unlock()
		var errs []error
		for i := len(procs) - 1; i >= 0; i-- {
			if err := procs[i].stop(c.opts.StopTimeout); err != nil {
				errs = append(errs, err)
			}
		}
		c.exitOnce.Do(func() { // no component was running
			c.exitErr = ErrStopped
			close(c.done)
		})
		if len(errs) == 0 {
			if err := os.Remove(c.dirs.pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove pid file: %w", err))
			}
		}
		if c.unlock != nil {
			if err := c.unlock(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			c.stopErr = fmt.Errorf("stop local cluster in %s: %w", c.opts.StateDir, err)
			return
		}
		c.opts.Logger.Info("local cluster stopped", "duration", time.Since(began).Round(time.Millisecond))
	})
	return c.stopErr
}
