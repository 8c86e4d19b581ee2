package main

// The engine under test in the sync scale benchmark: the bench binary re-run as a process of its
// own holding only the syncer, so that its memory is measured alone.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/syncer"
	"slipway.dev/slipway/engine/syncer/pushhook"
	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/providers"
)

// syncerChildEnv, set to a childConfig in JSON, makes the bench binary the engine under test:
// the syncer, its config-repo reader, its signature verifier and its push webhook endpoint,
// alone in a process of their own, so that its memory is measured without the control plane,
// the Git server, the registry or the renderer around it.
const syncerChildEnv = "SLIPWAY_BENCH_SYNCER"

// childConfig is what syncRun hands the engine process.
type childConfig struct {
	Kubeconfig, RepoURL, CacheDir, LogFile, CPUProfile string
	PublicKey, HookSecret                              []byte
	Apps                                               int
}

// childEvent is one line the engine process writes to its stdout.
type childEvent struct {
	Ready    string `json:"ready,omitempty"` // the push webhook's base URL, once it listens
	Target   string `json:"target,omitempty"`
	Revision string `json:"revision,omitempty"`
	OK       bool   `json:"ok,omitempty"`
	Healthy  bool   `json:"healthy,omitempty"`
	Reads    int    `json:"reads,omitempty"`
	PeakHeap uint64 `json:"peakHeap,omitempty"` // the last line, once stdin closes
}

// engineProc is the running engine process.
type engineProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{} // closed when its stdout ends
	peak  uint64        // its peak heap, from its last line
}

// startEngine starts the engine process over every app's target and returns once its push
// webhook listens; its reports go to b.
func (b *benchRun) startEngine(ctx context.Context, cluster *localkube.Cluster, dir string) (*engineProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(childConfig{Kubeconfig: cluster.KubeconfigPath(), RepoURL: b.repoURL, CacheDir: filepath.Join(dir, "engine"),
		LogFile: filepath.Join(os.TempDir(), fmt.Sprintf("slipway-bench-sync-%d.log", b.n)), CPUProfile: os.Getenv("SLIPWAY_BENCH_CPUPROFILE"),
		PublicKey: b.publicKey, HookSecret: b.secret, Apps: b.n})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-skip-go", "-skip-e2e", "-sync-apps", strconv.Itoa(b.n), "-out", os.DevNull)
	cmd.Env = append(os.Environ(), syncerChildEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the engine: %w", err)
	}
	p := &engineProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		dec := json.NewDecoder(stdout)
		for {
			var ev childEvent
			if err := dec.Decode(&ev); err != nil {
				return
			}
			switch {
			case ev.Ready != "":
				ready <- ev.Ready
			case ev.PeakHeap != 0:
				p.peak = ev.PeakHeap
			default:
				b.report(ev)
			}
		}
	}()
	select {
	case b.hookURL = <-ready:
		return p, nil
	case <-p.done:
		return nil, errors.Join(errors.New("the engine exited before it listened"), cmd.Wait())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill() // only the process this benchmark started
		return nil, errors.Join(errors.New("the engine did not listen within a minute"), cmd.Wait())
	}
}

// peakRSS is the engine's VmHWM: the most memory it has held resident so far.
func (p *engineProc) peakRSS() uint64 {
	return vmHWM(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
}

// stop asks the engine to finish (stdin closes), and returns its peak heap.
func (p *engineProc) stop() (uint64, error) {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill() // only the process this benchmark started
	}
	return p.peak, p.cmd.Wait()
}

func (b *benchRun) report(ev childEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.syncs++
	b.reads += ev.Reads
	if b.watch != nil {
		b.watch(ev)
	}
	if ev.Target == appName(0) {
		select {
		case b.results <- ev:
		default:
		}
	}
}

// runSyncerChild is the engine process: it syncs every app's target and serves the push
// webhook until its stdin closes, writing one childEvent per sync to stdout.
func runSyncerChild(ctx context.Context, raw string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fmt.Fprintln(os.Stderr, "bench engine:", err)
		return 2
	}
	if err := syncerChild(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench engine:", err)
		return 1
	}
	return 0
}

func syncerChild(ctx context.Context, c childConfig) error {
	var peak uint64
	stopSampling := sampleHeap(&peak)
	if c.CPUProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", c.CPUProfile, c.Apps))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	reader, err := configrepo.New(c.RepoURL, c.CacheDir, configrepo.Author{Name: "Bench", Email: "bench@localhost"})
	if err != nil {
		return err
	}
	v, err := sign.NewVerifier([][]byte{c.PublicKey}, sign.WithInsecureRegistry())
	if err != nil {
		return err
	}
	logf, err := os.Create(c.LogFile)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	targets := make([]syncer.Target, c.Apps)
	for i := range targets {
		app := benchApp(i, "")
		env := app.Spec.Environments[0]
		targets[i] = syncer.Target{Name: app.Name, Branch: "main", Dir: deploy.Dir(env.Name, app.Name), Namespace: deploy.Namespace(app, env)}
	}
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	emit := func(ev childEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = out.Encode(ev) // the benchmark reads every line; if it is gone, so is the point
	}
	report := func(_ context.Context, t syncer.Target, r syncer.Result) {
		emit(childEvent{Target: t.Name, Revision: r.Revision, OK: r.Err == nil, Healthy: r.Health == syncer.HealthHealthy, Reads: r.LiveReads})
	}
	s, err := syncer.New(cfg, reader, syncer.WithTargets(targets...), syncer.WithInterval(3*time.Minute),
		syncer.WithGarbageCollector(true), syncer.WithReporter(report), syncer.WithVerifier(v), syncer.WithLogger(log))
	if err != nil {
		return err
	}
	h, err := pushhook.New(c.RepoURL, "main", s, func(context.Context) ([][]byte, error) { return [][]byte{c.HookSecret}, nil },
		providers.All(), pushhook.WithLogger(log))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := webhooks.NewServer(l.Addr().String(), h)
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	emit(childEvent{Ready: "http://" + l.Addr().String()})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // returns when the benchmark closes it
		cancel()
	}()
	if c.CPUProfile != "" {
		// The heap as the run ends, before Run's return drops the cluster cache.
		<-ctx.Done()
		if f, ferr := os.Create(fmt.Sprintf("%s.heap.%d", c.CPUProfile, c.Apps)); ferr == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	err = <-done
	stopSampling()
	emit(childEvent{PeakHeap: max(peak, 1)})
	return err
}

// sampleHeap records the highest HeapInuse every 100 ms until the returned function is called;
// calling it again does nothing.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			mu.Lock()
			*peak = max(*peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// vmHWM reads the peak resident set size from a /proc/<pid>/status file (Linux).
func vmHWM(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
