package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"slipway.dev/slipway/e2e/scenario"
)

// e2eSection starts a fresh `slipway dev`, times the hello app's pushes, then the webhook bursts,
// and stops it. The state directory is removed only after a clean run without -keep.
func e2eSection(ctx context.Context, root string, c config, rep *report) (err error) {
	dir := c.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "slipway-bench-"); err != nil {
			return err
		}
	} else if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	if c.coldGoCache {
		// `slipway dev` runs the Go build with its own environment, so an empty GOCACHE here is
		// the only way to give the first push a cold build cache without touching the user's.
		if err := os.Setenv("GOCACHE", filepath.Join(dir, "gocache")); err != nil {
			return err
		}
	}
	rep.ColdGoCache = c.coldGoCache
	logf, err := os.Create(filepath.Join(os.TempDir(), "slipway-bench-dev.out"))
	if err != nil {
		return err
	}
	defer logf.Close()
	progress("starting slipway dev in %s (output in %s)", dir, logf.Name())
	start := time.Now()
	args, err := scenario.SupplyChainArgs(ctx, root, filepath.Join(dir, "supply-chain"))
	if err != nil {
		return err
	}
	dev, err := scenario.StartDev(ctx, bin, dir, logf, args...)
	if err != nil {
		return err
	}
	rep.DevReady = time.Since(start)
	progress("slipway dev ready in %.1fs, webhooks at %s", rep.DevReady.Seconds(), dev.WebhookURL)
	defer func() {
		if stopErr := dev.Stop(); stopErr != nil {
			progress("stop slipway dev: %v", stopErr)
		}
		if err == nil && !c.keep && c.dir == "" {
			err = os.RemoveAll(dir)
		} else {
			progress("state kept in %s", dir)
		}
	}()

	pb := &pushBench{dev: dev, root: root, progress: progress}
	rep.Pushes, rep.PushErr = pb.run(ctx, c.warmPushes)
	rep.Builders, rep.BuildersErr = pb.builders(ctx)
	rep.IngestErr = ingestSection(ctx, dev, root, c, rep)
	return errors.Join(rep.PushErr, rep.IngestErr)
}

func ingestSection(ctx context.Context, dev *scenario.Dev, root string, c config, rep *report) error {
	ib := &ingestBench{dev: dev, root: root, secret: []byte("bench-ingest-webhook-secret"), progress: progress}
	if err := ib.setup(ctx); err != nil {
		return fmt.Errorf("set up the webhook bursts: %w", err)
	}
	for _, conc := range c.concurrency {
		progress("burst: %d deliveries at concurrency %d", c.deliveries, conc)
		r, err := ib.burst(ctx, c.deliveries, conc, c.burstLimit)
		if err != nil {
			return fmt.Errorf("burst at concurrency %d: %w", conc, err)
		}
		rep.Ingest = append(rep.Ingest, r)
		progress("burst c=%d: %d sent, %d accepted, %.0f/s, p99 %s, %d lost, %d Deliveries, drained in %.1fs",
			conc, r.Sent, r.accepted(), r.perSecond(), r.quantile(0.99).Round(time.Microsecond*100), r.Lost, r.Recorded, r.Drained.Seconds())
	}
	var err error
	rep.Checks, err = ib.checks(ctx)
	return err
}
