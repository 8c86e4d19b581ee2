// Command demo runs Slipway's first end-to-end slice from a fresh directory and prints one line
// per stage with its elapsed time: start `slipway dev`, create an Application, push the hello
// app's source, send a signed GitHub push webhook, and wait until the Deployment is Available
// with the image pinned by digest. It exits 0 only if the app became Available.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"slipway.dev/slipway/e2e/scenario"
)

func main() {
	bin := flag.String("slipway", "bin/slipway", "the slipway binary")
	dir := flag.String("dir", "_out/demo", "state directory; wiped first unless -keep")
	keep := flag.Bool("keep", false, "reuse the state directory instead of starting fresh")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, *bin, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, dir string, keep bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if !keep {
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
	}
	start := time.Now()
	last := start
	line := func(stage, detail string) {
		now := time.Now()
		fmt.Printf("%-28s %6.1fs  (+%4.1fs)  %s\n", stage, now.Sub(start).Seconds(), now.Sub(last).Seconds(), detail)
		last = now
	}

	logf, err := os.Create(filepath.Join(os.TempDir(), "slipway-demo-dev.out"))
	if err != nil {
		return err
	}
	defer logf.Close()
	args, err := scenario.SupplyChainArgs(ctx, ".", filepath.Join(abs, "supply-chain"))
	if err != nil {
		return err
	}
	dev, err := scenario.StartDev(ctx, bin, abs, logf, args...)
	if err != nil {
		return err
	}
	defer dev.Stop()
	line("slipway dev ready", dev.WebhookURL)

	repoURL, err := dev.CreateRepo("hello")
	if err != nil {
		return err
	}
	secret := []byte("demo-webhook-secret")
	app := scenario.Application(dev.Namespace, "hello", repoURL, "hello-webhook")
	if err := scenario.CreateApp(ctx, dev.Client, app, secret); err != nil {
		return err
	}
	line("application created", "hello, tracking "+repoURL+" main")

	before, after, err := scenario.PushSource(ctx, repoURL, "testdata/apps/hello", filepath.Join(abs, "work", "hello"), "hello: first version")
	if err != nil {
		return err
	}
	line("source pushed", after[:12])

	sent := time.Now()
	push, err := scenario.SendPush(ctx, dev, "testdata/webhooks/github/thirdparty/push.branch-update.drone-go-scm.json",
		repoURL, before, after, secret)
	if err != nil {
		return err
	}
	line("webhook accepted", fmt.Sprintf("%d in %s, delivery %s", push.Status, push.Acked.Round(time.Millisecond), push.Delivery))

	rel, err := scenario.Follow(ctx, dev, app, "dev", push, func(stage string) { line(stage, "") })
	if err != nil {
		return err
	}
	fmt.Printf("\nhello is Available in namespace hello-dev, image %s\n", rel.Spec.Image)
	fmt.Printf("webhook to Available: %.1fs (the first push in a fresh directory compiles the Go standard library\n"+
		"into an empty build cache; later pushes take a few seconds); whole demo: %.1fs\n",
		time.Since(sent).Seconds(), time.Since(start).Seconds())
	return nil
}
