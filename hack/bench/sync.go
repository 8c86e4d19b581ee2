package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/gitserver"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/engine/syncer"
)

// syncResult is one scale run: N small Applications from one config-repo commit.
type syncResult struct {
	Apps         int
	AllApplied   time.Duration // syncer start to every target's first successful sync (all applied)
	AllHealthy   time.Duration // syncer start to every target reported Healthy
	Syncs        int           // syncs performed until then
	LiveReads    int           // objects read from the API server for health until then
	PeakHeap     uint64        // highest HeapInuse sampled every 100 ms
	PeakRSS      uint64        // the process's VmHWM, reset before the run
	ConfigChange time.Duration // commit of one app's env change to the change live in the cluster
	ChangeSynced time.Duration // the same commit to the target's sync reported
}

// benchImage is every app's image; the syncer refuses images not pinned by digest.
const benchImage = "registry.local/bench/app@sha256:7d3f0c4b8a9e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7988796a5b4c3d2e1f00"

// syncSection runs the scale benchmark for each size and returns its Markdown.
func syncSection(ctx context.Context, sizes []int) (string, error) {
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
			continue
		}
		progress("sync scale %d: all applied %.1fs, all Healthy %.1fs, %d syncs, %d live reads, peak heap %d MB, peak RSS %d MB, config change applied in %s",
			n, r.AllApplied.Seconds(), r.AllHealthy.Seconds(), r.Syncs, r.LiveReads, r.PeakHeap>>20, r.PeakRSS>>20, r.ConfigChange.Round(time.Millisecond))
		results = append(results, r)
	}
	return syncMarkdown(results, errors.Join(errs...)), errors.Join(errs...)
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

	git := gitserver.New(filepath.Join(dir, "git"))
	if err := git.Init("config", "main"); err != nil {
		return res, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: git, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	writer, err := configrepo.New("http://"+l.Addr().String()+"/config.git", filepath.Join(dir, "configrepo"),
		configrepo.Author{Name: "Bench", Email: "bench@localhost"})
	if err != nil {
		return res, err
	}
	if _, err := writer.Commit(ctx, configrepo.Change{Branch: "main", Dir: "environments/bench", Files: benchFiles(n, -1), Subject: fmt.Sprintf("Deploy %d apps", n)}); err != nil {
		return res, fmt.Errorf("commit the apps: %w", err)
	}

	targets := make([]syncer.Target, n)
	for i := range targets {
		targets[i] = syncer.Target{Name: appName(i), Branch: "main", Dir: "environments/bench/" + appName(i), Namespace: appName(i)}
	}
	var (
		start    time.Time
		mu       sync.Mutex
		healthy  = map[string]bool{}
		applied  = map[string]bool{}
		allDone  = make(chan struct{})
		syncs    int
		reads    int
		reported = make(chan syncer.Result, 16)
	)
	report := func(_ context.Context, t syncer.Target, r syncer.Result) {
		mu.Lock()
		defer mu.Unlock()
		syncs++
		reads += r.LiveReads
		if r.Err == nil && !applied[t.Name] {
			applied[t.Name] = true
			if len(applied) == n {
				res.AllApplied = time.Since(start)
			}
		}
		if r.Err == nil && r.Health == syncer.HealthHealthy && !healthy[t.Name] {
			healthy[t.Name] = true
			if len(healthy) == n {
				close(allDone)
			}
		}
		if t.Name == appName(0) {
			select {
			case reported <- r:
			default:
			}
		}
	}
	logf, err := os.Create(filepath.Join(os.TempDir(), fmt.Sprintf("slipway-bench-sync-%d.log", n)))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	s, err := syncer.New(cluster.Config(), writer, syncer.WithTargets(targets...), syncer.WithInterval(3*time.Minute),
		syncer.WithGarbageCollector(true), syncer.WithReporter(report),
		syncer.WithLogger(slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if err != nil {
		return res, err
	}

	resetPeakRSS()
	stopSampling := sampleHeap(&res.PeakHeap)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		cancel()
		err = errors.Join(err, <-done)
	}()
	kc := kubernetes.NewForConfigOrDie(cluster.Config())
	limit := time.Duration(n)*600*time.Millisecond + 2*time.Minute
	select {
	case <-allDone:
	case <-time.After(limit):
		mu.Lock()
		got := len(healthy)
		mu.Unlock()
		return res, fmt.Errorf("%d of %d applications Healthy after %v", got, n, limit)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.AllHealthy = time.Since(start)
	stopSampling()
	res.PeakRSS = peakRSS()
	mu.Lock()
	res.Syncs, res.LiveReads = syncs, reads
	mu.Unlock()

	// Config-only change: one app's environment variable, committed, then the push hook's
	// Notify, as the embedded Git server does.
	for len(reported) > 0 {
		<-reported
	}
	changed := time.Now()
	if _, err := writer.Commit(ctx, configrepo.Change{Branch: "main", Dir: "environments/bench", Files: benchFiles(n, 0), Subject: "Change app-0000's env"}); err != nil {
		return res, fmt.Errorf("commit the config change: %w", err)
	}
	s.Notify(appName(0))
	for res.ConfigChange == 0 {
		d, err := kc.AppsV1().Deployments(appName(0)).Get(ctx, "web", metav1.GetOptions{})
		if err == nil && len(d.Spec.Template.Spec.Containers[0].Env) > 0 {
			res.ConfigChange = time.Since(changed)
			break
		}
		if time.Since(changed) > time.Minute {
			return res, errors.New("config change not applied within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for res.ChangeSynced == 0 {
		select {
		case r := <-reported:
			if r.Err == nil && r.Started.After(changed) {
				res.ChangeSynced = r.Started.Add(r.Duration).Sub(changed)
			}
		case <-time.After(time.Minute):
			return res, errors.New("no sync of the changed app reported within a minute")
		}
	}
	return res, nil
}

func appName(i int) string { return fmt.Sprintf("app-%04d", i) }

// benchFiles is every app's Namespace, Deployment and Service; the app numbered changed gets
// an extra environment variable.
func benchFiles(n, changed int) []manifest.File {
	files := make([]manifest.File, 0, 3*n)
	for i := range n {
		name := appName(i)
		env := ""
		if i == changed {
			env = "\n          env: [{name: GREETING, value: changed}]"
		}
		files = append(files,
			manifest.File{Path: name + "/namespace.yaml", Data: fmt.Appendf(nil, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)},
			manifest.File{Path: name + "/deployment.yaml", Data: fmt.Appendf(nil, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: %s
          ports: [{containerPort: 8080}]%s
`, name, benchImage, env)},
			manifest.File{Path: name + "/service.yaml", Data: fmt.Appendf(nil, `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: %s
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, name)})
	}
	return files
}

// sampleHeap records the highest HeapInuse every 100 ms until the returned function is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			*peak = max(*peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// resetPeakRSS resets the process's VmHWM (Linux); peakRSS then reads it.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
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
	b.WriteString(`N small Applications (a Namespace, a one-replica Deployment and a Service each, in their own
directory and namespace) land in one config-repo commit on the embedded Git server; one syncer
(gitops-engine, one cluster cache, server-side apply, 8 concurrent syncs, 3-minute interval)
starts with N targets. "All applied" runs until every target's first sync succeeded (the
syncer's own work); "all Healthy" until every target has reported Healthy (Deployment Available
through kube-controller-manager, kube-scheduler and kwok, whose client rate limits bound it). Memory is the benchmark
process's, which holds the syncer and the config-repo reader (the control plane runs in its own
processes). The config change commits a new environment variable for one app, then notifies its
target as the Git server's push hook does. Anchors: Flux reconciles 1,000 Kustomizations in
4m15s on 16 cores; Argo CD polls Git every 3 minutes by default. Target: 1,000 Healthy <= 2 min,
engine < 200 MB.

| applications | all applied (s) | all Healthy (s) | syncs | health reads from the API server | peak heap (MB) | peak RSS (MB) | config change applied (ms) | its sync reported (ms) | target |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
`)
	for _, r := range rs {
		ok := r.PeakRSS < 200<<20
		if r.Apps >= 1000 {
			ok = ok && r.AllHealthy <= 2*time.Minute
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d | %d | %d | %d | %s | %s | %s |\n", r.Apps, secs(r.AllApplied), secs(r.AllHealthy),
			r.Syncs, r.LiveReads, r.PeakHeap>>20, r.PeakRSS>>20, ms(r.ConfigChange), ms(r.ChangeSynced), met(ok))
	}
	return b.String()
}
