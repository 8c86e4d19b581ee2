package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"slipway.dev/slipway/e2e/scenario"
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
	"slipway.dev/slipway/webhooks/event"
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

// syncRun is one scale run of n applications: the control plane, the config repo and the
// registry, the engine process, and each timed step.
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
	sent, err := b.commitAndPush(ctx, 0, "one", "Change app-0000's env", nil)
	if err != nil {
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
	// Counted from before the commit: a target that another nudge synced between the commit and
	// the webhook has the change applied, and the refresh rightly leaves it alone. Only
	// revisions other than before can follow it.
	var appliedCh, healthyCh chan struct{}
	sent, err := b.commitAndPush(ctx, b.n, "all", "Change every app's env", func(before string) {
		appliedCh, healthyCh = b.track(func(ev childEvent) bool { return ev.Revision != before })
	})
	if err != nil {
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

// commitAndPush renders the change (see render), commits it and sends its push webhook,
// returning when the webhook was sent. beforeCommit, if set, is called with the branch's tip
// just before the commit.
func (b *benchRun) commitAndPush(ctx context.Context, changed int, greeting, subject string, beforeCommit func(before string)) (sent time.Time, err error) {
	files, err := b.render(ctx, changed, greeting)
	if err != nil {
		return time.Time{}, err
	}
	before, err := b.writer.Head(ctx, "main")
	if err != nil {
		return time.Time{}, err
	}
	if beforeCommit != nil {
		beforeCommit(before)
	}
	c, err := b.writer.Commit(ctx, configrepo.Change{Branch: "main", Dir: "environments/dev", Files: files, Subject: subject})
	if err != nil {
		return time.Time{}, fmt.Errorf("commit the config change: %w", err)
	}
	sent = time.Now()
	return sent, b.push(ctx, before, c.Commit)
}

// push sends the config repo's GitHub push webhook for the commit after, signed.
func (b *benchRun) push(ctx context.Context, before, after string) error {
	body, err := scenario.PushPayload(pushTemplate, b.repoURL, "bench/config", before, after)
	if err != nil {
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
