package cluster

import (
	"context"
	"fmt"
	"time"

	"slipway.dev/slipway/engine/appstatus"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/syncer"
)

// SyncerLease is the syncer's leader-election lease in its namespace.
const SyncerLease = "slipway-syncer"

// nudgeEvery is how often targets still progressing are re-synced, so that Available shows up
// without waiting for the interval.
const nudgeEvery = 5 * time.Second

// RunSyncer syncs every Application environment committed to the config repo until ctx ends:
// one target per environment, re-synced every c.Interval and as soon as an Application
// records a new config revision. Unless c.VerifySignatures is off, a sync whose images are
// not signed by a trusted key is refused as a whole. Results are written back to the
// Application and the Release.
func RunSyncer(ctx context.Context, c SyncerConfig) error {
	log := c.logger().With("component", "syncer")
	mgr, err := newManager(c.Common, "syncer", SyncerLease)
	if err != nil {
		return err
	}
	writer, err := newWriter(c.Common, c.ConfigRepo)
	if err != nil {
		return fmt.Errorf("syncer: %w", err)
	}
	rep := &appstatus.Reporter{Client: mgr.GetClient(), Branch: c.ConfigRepo.Branch, Log: c.logger().With("component", "status")}
	opts := []syncer.Option{
		syncer.WithInterval(c.Interval), syncer.WithGarbageCollector(true), syncer.WithReporter(rep.Report),
		syncer.WithLogger(log),
	}
	if c.VerifySignatures {
		vopts := []sign.Option{sign.WithLogger(c.logger().With("component", "verify"))}
		if c.RegistryInsecure {
			vopts = append(vopts, sign.WithInsecureRegistry())
		}
		v, err := sign.NewTrustVerifier(sign.Trust{PublicKeys: c.PublicKeys, Keyless: c.Keyless}, vopts...)
		if err != nil {
			return fmt.Errorf("syncer: signature verification: %w", err)
		}
		if c.Keyless != nil {
			log.Info("trusting keyless signatures", "identity", c.Keyless.Identities[0].String(),
				"rekor", len(c.Keyless.RekorPublicKeys) > 0, "timestampAuthority", len(c.Keyless.TimestampAuthority) > 0)
		}
		opts = append(opts, syncer.WithVerifier(v))
	} else {
		log.Warn("IMAGE SIGNATURE VERIFICATION IS OFF: the syncer applies any image the config repo names, signed or not",
			"env", EnvVerifySignatures)
	}
	sy, err := syncer.New(c.Kube, writer, opts...)
	if err != nil {
		return fmt.Errorf("syncer: %w", err)
	}
	rep.Syncer = sy
	if err := rep.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("syncer: set up status reporter: %w", err)
	}
	for _, r := range []runnable{
		{f: sy.Run},
		{f: func(ctx context.Context) error { rep.Nudge(ctx, nudgeEvery); return nil }},
	} {
		if err := mgr.Add(r); err != nil {
			return fmt.Errorf("syncer: %w", err)
		}
	}
	log.Info("starting", "configRepo", c.ConfigRepo.String(), "interval", c.Interval, "verifySignatures", c.VerifySignatures,
		"leaderElect", c.LeaderElect, "namespaces", c.ApplicationNamespaces)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("syncer: %w", err)
	}
	return nil
}
