package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"slipway.dev/slipway/e2e/scenario"
	"slipway.dev/slipway/engine/api/v1alpha1"
)

// pushTemplate is a real GitHub push delivery that scenario.PushPayload rewrites.
const pushTemplate = "testdata/webhooks/github/thirdparty/push.branch-update.drone-go-scm.json"

// pushResult is one push of the hello app timed from the moment its webhook was sent.
type pushResult struct {
	Label  string
	Ack    time.Duration   // until the receiver answered 202
	Stages []time.Duration // when each of scenario.Stages was observed
	Total  time.Duration   // until the Deployment was Available with the new image
	Reused bool            // the source tree was unchanged, so the build was skipped
}

// pushBench pushes the hello app to a `slipway dev` and times each push to Available.
type pushBench struct {
	dev      *scenario.Dev
	root     string // the Slipway repository, for testdata
	progress func(format string, args ...any)
}

// run creates the hello Application, pushes its source (the first, cold push) and then warm more
// commits, each changing a Go file so that every push builds and ships a new image.
func (b *pushBench) run(ctx context.Context, warm int) ([]pushResult, error) {
	repoURL, err := b.dev.CreateRepo("hello")
	if err != nil {
		return nil, err
	}
	secret := []byte("bench-hello-webhook-secret")
	app := scenario.Application(b.dev.Namespace, "hello", repoURL, "hello-webhook")
	if err := scenario.CreateApp(ctx, b.dev.Client, app, secret); err != nil {
		return nil, err
	}
	work := filepath.Join(b.dev.Dir, "bench-work", "hello")
	// Later pushes copy only this directory over the working copy: one changed Go file.
	change := filepath.Join(b.dev.Dir, "bench-change")
	for _, d := range []string{change, filepath.Join(b.dev.Dir, "bench-empty")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var results []pushResult
	for i := 0; i <= warm; i++ {
		src, label, limit := change, fmt.Sprintf("warm %d", i), 3*time.Minute
		if i == 0 {
			src, label, limit = filepath.Join(b.root, "testdata", "apps", "hello"), "first (cold build cache)", 8*time.Minute
		} else if err := writeRevision(change, i); err != nil {
			return results, err
		}
		r, err := b.push(ctx, repoURL, src, work, label, secret, app, limit)
		if err != nil {
			return results, fmt.Errorf("push %q: %w", label, err)
		}
		results = append(results, r)
		b.progress("push %s: available %.1fs after the webhook", label, r.Total.Seconds())
	}
	// A commit that leaves the app's tree as it was: the pipeline finds the image already built
	// from that tree and skips the build (reuse-image), so only scan, sign and deploy run.
	label := "unchanged tree (build reused)"
	r, err := b.push(ctx, repoURL, filepath.Join(b.dev.Dir, "bench-empty"), work, label, secret, app, 3*time.Minute)
	if err != nil {
		return results, fmt.Errorf("push %q: %w", label, err)
	}
	r.Reused = true
	b.progress("push %s: available %.1fs after the webhook", label, r.Total.Seconds())
	return append(results, r), nil
}

// writeRevision writes a Go file whose content changes with n, so the next build differs.
func writeRevision(dir string, n int) error {
	src := fmt.Sprintf("package main\n\n// benchRevision changes with every benchmark push, so that each one ships a new binary.\nvar benchRevision = %q\n\nfunc init() {\n\tif benchRevision == \"\" {\n\t\tpanic(\"benchRevision unset\")\n\t}\n}\n",
		fmt.Sprintf("bench-%d-%d", n, time.Now().UnixNano()))
	return os.WriteFile(filepath.Join(dir, "bench_revision.go"), []byte(src), 0o644)
}

// push commits src, sends the signed push webhook and follows the delivery to Available, all
// within limit.
func (b *pushBench) push(ctx context.Context, repoURL, src, work, label string, secret []byte, app *v1alpha1.Application, limit time.Duration) (pushResult, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	r := pushResult{Label: label}
	before, after, err := scenario.PushSource(ctx, repoURL, src, work, "hello: "+label)
	if err != nil {
		return r, err
	}
	b.progress("push %s: commit %s pushed, sending webhook", label, after[:12])
	start := time.Now()
	p, err := scenario.SendPush(ctx, b.dev, filepath.Join(b.root, pushTemplate), repoURL, before, after, secret)
	if err != nil {
		return r, err
	}
	r.Ack = p.Acked
	_, err = scenario.Follow(ctx, b.dev, app, "dev", p, func(stage string) {
		r.Stages = append(r.Stages, time.Since(start))
		b.progress("push %s: %-26s %5.1fs", label, stage, time.Since(start).Seconds())
	})
	r.Total = time.Since(start)
	return r, err
}
