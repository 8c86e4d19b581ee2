package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/gobuild"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/engine/registry"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/syncer"
	"slipway.dev/slipway/engine/syncer/pushhook"
	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/providers"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// syncResult is one scale run: N Applications rendered by the app chart, from one config-repo
// commit, their one image signed and verified.
type syncResult struct {
	Apps       int
	Objects    int           // objects in the config repo
	AllApplied time.Duration // syncer start to every target's first successful sync (all applied)
	AllHealthy time.Duration // syncer start to every target reported Healthy
	Syncs      int           // syncs performed until then
	LiveReads  int           // objects read from the API server for health until then
	PeakHeap   uint64        // the engine process's highest HeapInuse, sampled every 100 ms
	PeakRSS    uint64        // the engine process's VmHWM, over the whole run
	// OneChange is one app's config change, from its push webhook to the change in its
	// Deployment; OneRefreshed the same push to the targets' refresh answered (202).
	OneChange, OneRefreshed time.Duration
	// AllChanged and AllChangedHealthy are a change to every app's config in one commit, from
	// its push webhook to every target's sync of it applied, and to every target Healthy again.
	AllChanged, AllChangedHealthy time.Duration
}

// syncSection runs the scale benchmark for each size and returns its Markdown.
func syncSection(ctx context.Context, sizes []int) (string, error) {
	if cfg := os.Getenv(syncerChildEnv); cfg != "" {
		os.Exit(runSyncerChild(ctx, cfg)) // the engine under test, started by syncRun
	}
	bin, err := localkube.BinDir()
	if err != nil {
		return "", err
	}
	var results []syncResult
	var errs []error
	for _, n := range sizes {
		progress("sync scale: %d applications", n)
		r, err := syncRun(ctx, bin, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("sync %d applications: %w", n, err))
			if r.AllApplied > 0 {
				results = append(results, r) // what was measured before the failure
			}
			continue
		}
		progress("sync scale %d (%d objects): all applied %.1fs, all Healthy %.1fs, %d syncs, %d live reads, peak heap %d MB, peak RSS %d MB; "+
			"one app's change applied %s after its webhook (answered in %s); every app's change applied %.1fs, Healthy %.1fs after its webhook",
			n, r.Objects, r.AllApplied.Seconds(), r.AllHealthy.Seconds(), r.Syncs, r.LiveReads, r.PeakHeap>>20, r.PeakRSS>>20,
			r.OneChange.Round(time.Millisecond), r.OneRefreshed.Round(time.Millisecond), r.AllChanged.Seconds(), r.AllChangedHealthy.Seconds())
		results = append(results, r)
	}
	return syncMarkdown(results, errors.Join(errs...)), errors.Join(errs...)
}

// benchRun is the state of one scale run that its steps share.
type benchRun struct {
	n         int
	image     string // every app's, signed with the key publicKey verifies
	publicKey []byte
	writer    *configrepo.Writer // commits to the config repo, as the controller does
	hookURL   string
	secret    []byte
	repoURL   string

	mu      sync.Mutex
	watch   func(childEvent) // called for every sync the engine reports, under mu
	syncs   int
	reads   int
	results chan childEvent // app 0's, for the one-app change
}

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

func syncRun(ctx context.Context, bin string, n int) (res syncResult, err error) {
	res.Apps = n
	dir, err := os.MkdirTemp("", "slipway-bench-sync-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cluster, err := localkube.Start(ctx, localkube.Options{BinDir: bin, StateDir: filepath.Join(dir, "cluster"),
		Components: localkube.Full, NoFsync: true, Fresh: true})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, cluster.Stop()) }()

	b := &benchRun{n: n, secret: []byte("bench-config-repo-hook"), results: make(chan childEvent, 64)}
	stop, err := b.startInfra(ctx, dir)
	defer func() { err = errors.Join(err, stop()) }()
	if err != nil {
		return res, err
	}
	files, err := b.render(ctx, -1, "")
	if err != nil {
		return res, err
	}
	res.Objects = countObjects(files)
	if _, err := b.writer.Commit(ctx, configrepo.Change{Branch: "main", Dir: "environments/dev", Files: files, Subject: fmt.Sprintf("Deploy %d apps", n)}); err != nil {
		return res, fmt.Errorf("commit the apps: %w", err)
	}

	applied, healthy := b.track(func(childEvent) bool { return true })
	start := time.Now()
	engine, err := b.startEngine(ctx, cluster, dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if res.PeakRSS == 0 {
			res.PeakRSS = engine.peakRSS()
		}
		peak, werr := engine.stop()
		res.PeakHeap = peak
		err = errors.Join(err, werr)
	}()
	limit := time.Duration(n)*600*time.Millisecond + 2*time.Minute
	if err := waitAll(ctx, applied, limit, "applied"); err != nil {
		return res, err
	}
	res.AllApplied = time.Since(start)
	if err := waitAll(ctx, healthy, limit, "Healthy"); err != nil {
		return res, err
	}
	res.AllHealthy = time.Since(start)
	b.mu.Lock()
	res.Syncs, res.LiveReads = b.syncs, b.reads
	b.mu.Unlock()

	if res.OneChange, res.OneRefreshed, err = b.changeOne(ctx, kubernetes.NewForConfigOrDie(cluster.Config())); err != nil {
		return res, err
	}
	res.AllChanged, res.AllChangedHealthy, err = b.changeAll(ctx)
	res.PeakRSS = engine.peakRSS()
	return res, err
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

// startInfra starts what the engine talks to, in this process: the Git server holding the config
// repo, the registry holding the signed image.
func (b *benchRun) startInfra(ctx context.Context, dir string) (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	git := gitserver.New(filepath.Join(dir, "git"))
	if err := git.Init("config", "main"); err != nil {
		return stop, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, err
	}
	srv := &http.Server{Handler: git, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	stops = append(stops, srv.Close)
	b.repoURL = "http://" + l.Addr().String() + "/config.git"
	if b.writer, err = configrepo.New(b.repoURL, filepath.Join(dir, "configrepo"), configrepo.Author{Name: "Bench", Email: "bench@localhost"}); err != nil {
		return stop, err
	}
	reg, err := registry.Start(ctx, registry.Options{Dir: filepath.Join(dir, "registry")})
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() error { return reg.Close(context.WithoutCancel(ctx)) })
	if b.image, err = gobuild.PushBase(ctx, reg.Host()+"/bench/app:1", true); err != nil {
		return stop, err
	}
	kp, err := sign.GenerateKeyPair([]byte("bench"))
	if err != nil {
		return stop, err
	}
	signer, err := sign.NewSigner(kp.PrivateKey, kp.Password, sign.WithInsecureRegistry())
	if err != nil {
		return stop, err
	}
	if _, err := signer.Sign(ctx, b.image); err != nil {
		return stop, fmt.Errorf("sign the bench image: %w", err)
	}
	b.publicKey = kp.PublicKey
	return stop, nil
}

// track counts, from now on, the targets whose successful syncs pass ok: applied closes when
// each has one, healthy when each has reported Healthy in one.
func (b *benchRun) track(ok func(childEvent) bool) (applied, healthy chan struct{}) {
	applied, healthy = make(chan struct{}), make(chan struct{})
	seen, well := map[string]bool{}, map[string]bool{}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watch = func(ev childEvent) {
		if !ev.OK || !ok(ev) {
			return
		}
		if !seen[ev.Target] {
			seen[ev.Target] = true
			if len(seen) == b.n {
				close(applied)
			}
		}
		if ev.Healthy && !well[ev.Target] {
			well[ev.Target] = true
			if len(well) == b.n {
				close(healthy)
			}
		}
	}
	return applied, healthy
}

func waitAll(ctx context.Context, ch <-chan struct{}, limit time.Duration, what string) error {
	select {
	case <-ch:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("not every application %s after %v", what, limit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// changeOne commits a new environment variable for app 0 alone, sends the push webhook and
// times the change to its Deployment.
func (b *benchRun) changeOne(ctx context.Context, kc kubernetes.Interface) (applied, answered time.Duration, err error) {
	for len(b.results) > 0 {
		<-b.results
	}
	files, err := b.render(ctx, 0, "one")
	if err != nil {
		return 0, 0, err
	}
	before, err := b.writer.Head(ctx, "main")
	if err != nil {
		return 0, 0, err
	}
	c, err := b.writer.Commit(ctx, configrepo.Change{Branch: "main", Dir: "environments/dev", Files: files, Subject: "Change app-0000's env"})
	if err != nil {
		return 0, 0, fmt.Errorf("commit the config change: %w", err)
	}
	sent := time.Now()
	if err := b.push(ctx, before, c.Commit); err != nil {
		return 0, 0, err
	}
	answered = time.Since(sent)
	app := benchApp(0, "")
	ns := deploy.Namespace(app, app.Spec.Environments[0])
	for {
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err == nil && len(d.Spec.Template.Spec.Containers[0].Env) > 0 {
			return time.Since(sent), answered, nil
		}
		if time.Since(sent) > time.Minute {
			return 0, 0, errors.New("one app's config change not applied within a minute of its webhook")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// changeAll commits a new environment variable for every app in one commit, sends the push
// webhook and times every target's sync of it, and every target Healthy again.
func (b *benchRun) changeAll(ctx context.Context) (applied, healthy time.Duration, err error) {
	files, err := b.render(ctx, b.n, "all")
	if err != nil {
		return 0, 0, err
	}
	before, err := b.writer.Head(ctx, "main")
	if err != nil {
		return 0, 0, err
	}
	// Counted from before the commit: a target that another nudge synced between the commit and
	// the webhook has the change applied, and the refresh rightly leaves it alone. Only
	// revisions other than before can follow it.
	appliedCh, healthyCh := b.track(func(ev childEvent) bool { return ev.Revision != before })
	c, err := b.writer.Commit(ctx, configrepo.Change{Branch: "main", Dir: "environments/dev", Files: files, Subject: "Change every app's env"})
	if err != nil {
		return 0, 0, fmt.Errorf("commit the config change: %w", err)
	}
	sent := time.Now()
	if err := b.push(ctx, before, c.Commit); err != nil {
		return 0, 0, err
	}
	limit := time.Duration(b.n)*300*time.Millisecond + time.Minute
	if err := waitAll(ctx, appliedCh, limit, "changed"); err != nil {
		return 0, 0, err
	}
	applied = time.Since(sent)
	if err := waitAll(ctx, healthyCh, limit, "Healthy after the change"); err != nil {
		return applied, 0, err
	}
	return applied, time.Since(sent), nil
}

// push sends the config repo's GitHub push webhook for the commit after, signed.
func (b *benchRun) push(ctx context.Context, before, after string) error {
	body, err := os.ReadFile(filepath.Join("testdata", "webhooks", "github", "thirdparty", "push.branch-update.drone-go-scm.json"))
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	doc["ref"], doc["before"], doc["after"] = "refs/heads/main", before, after
	repo := doc["repository"].(map[string]any)
	repo["full_name"], repo["name"], repo["clone_url"] = "bench/config", "config", b.repoURL
	if body, err = json.Marshal(doc); err != nil {
		return err
	}
	d := webhooktest.Delivery{Provider: event.GitHub, Event: "push", ID: "bench-" + after, Body: body, Secret: b.secret}
	req, err := d.Request(ctx, b.hookURL)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("push webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("push webhook answered %s", resp.Status)
	}
	return nil
}

func appName(i int) string { return fmt.Sprintf("app-%04d", i) }

// benchApp is app number i: one service, web, in one environment, dev; greeting, when set, is
// an environment variable of web.
func benchApp(i int, greeting string) *v1alpha1.Application {
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: appName(i), Namespace: "bench"},
		Spec: v1alpha1.ApplicationSpec{
			Source:       v1alpha1.SourceSpec{Provider: "github", RepoURL: "https://github.com/bench/" + appName(i) + ".git"},
			Services:     []v1alpha1.Service{{Name: "web", Port: 8080, HealthPath: "/healthz"}},
			Environments: []v1alpha1.Environment{{Name: "dev"}},
		},
	}
	if greeting != "" {
		app.Spec.Services[0].Env = []v1alpha1.EnvVar{{Name: "GREETING", Value: greeting}}
	}
	return app
}

// render renders every app with the app chart, each under its own directory of
// environments/dev. App changed (all of them when changed is n) gets the environment variable
// GREETING=greeting.
func (b *benchRun) render(ctx context.Context, changed int, greeting string) ([]manifest.File, error) {
	var files []manifest.File
	for i := range b.n {
		g := ""
		if i == changed || changed == b.n {
			g = greeting
		}
		app := benchApp(i, g)
		fs, err := appchart.Renderer{}.Render(ctx, app, app.Spec.Environments[0], b.image)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", app.Name, err)
		}
		for _, f := range fs {
			files = append(files, manifest.File{Path: app.Name + "/" + f.Path, Data: f.Data})
		}
	}
	return files, nil
}

// countObjects counts the YAML documents in files.
func countObjects(files []manifest.File) int {
	n := 0
	for _, f := range files {
		for doc := range strings.SplitSeq(string(f.Data), "\n---") {
			if strings.Contains(doc, "kind:") {
				n++
			}
		}
	}
	return n
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

func syncMarkdown(rs []syncResult, err error) string {
	var b strings.Builder
	section(&b, "Sync at scale (syncer on the local control plane with kwok)", err)
	b.WriteString(`N Applications (one service each, rendered by the app chart: a Namespace with its
ResourceQuota, LimitRange and three NetworkPolicies, a ServiceAccount, a Deployment and a
Service), each in its own directory and namespace, land in one config-repo commit on the
embedded Git server, all naming one image in the embedded registry signed with a cosign key; one
syncer (gitops-engine, one cluster cache, server-side apply, 8 concurrent syncs, 3-minute
interval, every image's signature verified before each sync) starts with N targets. "All
applied" runs until every target's first sync succeeded (the syncer's own work); "all Healthy"
until every target has reported Healthy (Deployment Available through kube-controller-manager,
kube-scheduler and kwok, whose client rate limits bound it). Config changes are committed to the
config repo and announced by its GitHub push webhook, signed, to the syncer's endpoint, which
refreshes the targets whose directories changed: one app's environment variable (webhook to its
Deployment changed), then every app's in one commit (webhook to every target's sync of it
applied, and to every target Healthy again, which includes the rollouts). Memory is the engine
process's: the syncer, its config-repo reader, its signature verifier and its push webhook
endpoint run alone in a process of their own, as ` + "`slipway syncer`" + ` does (the control plane, the
Git server, the registry and the renderer run in other processes). Anchors: Flux reconciles 1,000 Kustomizations in 4m15s on 16 cores; Argo CD
polls Git every 3 minutes by default. Targets: 1,000 Healthy <= 2 min, a change through all
1,000 <= 60 s, engine < 200 MB.

| applications | objects | all applied (s) | all Healthy (s) | syncs | health reads from the API server | peak heap (MB) | peak RSS (MB) | one app's change: webhook to applied (ms) | every app's change: webhook to applied (s) | to Healthy (s) | target |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
`)
	// orDash shows a figure a failed run did not reach as "-".
	orDash := func(d time.Duration, f func(time.Duration) string) string {
		if d == 0 {
			return "-"
		}
		return f(d)
	}
	for _, r := range rs {
		ok := r.PeakRSS > 0 && r.PeakRSS < 200<<20 && r.AllHealthy > 0 && r.AllChanged > 0
		if r.Apps >= 1000 {
			ok = ok && r.AllHealthy <= 2*time.Minute && r.AllChanged <= time.Minute
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %d | %d | %d | %d | %s | %s | %s | %s |\n", r.Apps, r.Objects, orDash(r.AllApplied, secs),
			orDash(r.AllHealthy, secs), r.Syncs, r.LiveReads, r.PeakHeap>>20, r.PeakRSS>>20, orDash(r.OneChange, ms), orDash(r.AllChanged, secs),
			orDash(r.AllChangedHealthy, secs), met(ok))
	}
	return b.String()
}
