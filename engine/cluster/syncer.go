package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/appstatus"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/syncer"
	"slipway.dev/slipway/engine/syncer/pushhook"
	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/providers"
)

// SyncerLease is the syncer's leader-election lease in its namespace.
const SyncerLease = "slipway-syncer"

// nudgeEvery is how often targets still progressing are re-synced, so that Available shows up
// without waiting for the interval.
const nudgeEvery = 5 * time.Second

// RunSyncer syncs every Application environment committed to the config repo until ctx ends:
// one target per environment, re-synced every c.Interval, as soon as an Application records a
// new config revision and, when c.PushHook names its secrets, as soon as the config repo's
// push webhook reports a commit to the branch (made by Slipway or not). Unless
// c.VerifySignatures is off, a sync whose images are not signed by a trusted key is refused as
// a whole. Results are written back to the Application and the Release.
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
	runnables := []runnable{
		{f: sy.Run},
		{f: func(ctx context.Context) error { rep.Nudge(ctx, nudgeEvery); return nil }},
	}
	if len(c.PushHook.Secrets) > 0 {
		r, err := pushHookRunnable(c, mgr, sy, log)
		if err != nil {
			return err
		}
		runnables = append(runnables, r)
	}
	for _, r := range runnables {
		if err := mgr.Add(r); err != nil {
			return fmt.Errorf("syncer: %w", err)
		}
	}
	log.Info("starting", "configRepo", c.ConfigRepo.String(), "interval", c.Interval, "verifySignatures", c.VerifySignatures,
		"leaderElect", c.LeaderElect, "namespaces", c.ApplicationNamespaces, "pushWebhook", c.PushHook.Addr)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("syncer: %w", err)
	}
	return nil
}

// EnvConfigRepoWebhookSecrets names the Secrets (secret-name/key, comma-separated; several
// while one is rotated) in the syncer's namespace that sign the config repo's push webhooks.
// Set, the syncer serves the webhook at /hooks/<provider> on SLIPWAY_WEBHOOK_ADDR.
const EnvConfigRepoWebhookSecrets = "SLIPWAY_CONFIG_REPO_WEBHOOK_SECRETS"

// PushHook configures the syncer's endpoint for the config repo's push webhook.
type PushHook struct {
	// Addr is the listen address (SLIPWAY_WEBHOOK_ADDR, default :8080).
	Addr string
	// Secrets sign the deliveries; none turns the endpoint off.
	Secrets []SecretRef
}

func loadPushHook(env Getenv, p *problems) PushHook {
	var h PushHook
	for _, ref := range splitList(env(EnvConfigRepoWebhookSecrets)) {
		name, key, ok := strings.Cut(ref, "/")
		if !ok || key == "" || len(validation.IsDNS1123Subdomain(name)) > 0 || len(validation.IsConfigMapKey(key)) > 0 {
			p.add(EnvConfigRepoWebhookSecrets, "%q: want a comma-separated list of secret-name/key", ref)
			continue
		}
		h.Secrets = append(h.Secrets, SecretRef{Name: name, Key: key})
	}
	if len(h.Secrets) > 0 {
		h.Addr = orDefault(env(EnvWebhookAddr), ":8080")
		checkAddr(p, EnvWebhookAddr, h.Addr)
	}
	return h
}

// errStandby answers pushes that reach a replica that is not the elected syncer.
var errStandby = errors.New("this syncer replica is on standby; the elected one syncs, and its interval catches up")

// pushHookRunnable serves the config repo's push webhook on every replica; only the elected
// one refreshes (the others answer 503, so the provider shows the delivery failed). It listens
// at once, so that /readyz never answers before the endpoint does.
func pushHookRunnable(c SyncerConfig, mgr ctrl.Manager, sy *syncer.Syncer, log *slog.Logger) (runnable, error) {
	secrets := func(ctx context.Context) ([][]byte, error) {
		return readSecrets(ctx, mgr.GetAPIReader(), c.Namespace, c.PushHook.Secrets)
	}
	h, err := pushhook.New(c.ConfigRepo.URL, c.ConfigRepo.Branch, elected{sy, mgr.Elected()}, secrets, providers.All(),
		pushhook.WithLogger(c.logger().With("component", "pushhook")))
	if err != nil {
		return runnable{}, fmt.Errorf("syncer: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(webhooks.PathPrefix, h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := webhooks.NewServer(c.PushHook.Addr, mux)
	l, err := net.Listen("tcp", c.PushHook.Addr)
	if err != nil {
		return runnable{}, fmt.Errorf("syncer: push webhook: listen on %s: %w", c.PushHook.Addr, err)
	}
	log.Info("serving the config repo's push webhook", "addr", l.Addr().String(), "secrets", len(c.PushHook.Secrets))
	return runnable{everywhere: true, f: func(ctx context.Context) error { return serve(ctx, srv, l) }}, nil
}

// elected refreshes through the syncer once this replica leads.
type elected struct {
	sy      *syncer.Syncer
	leading <-chan struct{}
}

func (e elected) Refresh(ctx context.Context, branch string) ([]string, error) {
	select {
	case <-e.leading:
		return e.sy.Refresh(ctx, branch)
	default:
		return nil, errStandby
	}
}

// readSecrets reads each referenced key by name, uncached (the syncer may get these Secrets
// only). Missing ones are skipped while another is present, so that a rotation can drop the
// old Secret; with none present it fails, naming them.
func readSecrets(ctx context.Context, r client.Reader, ns string, refs []SecretRef) ([][]byte, error) {
	var out [][]byte
	var missing []string
	for _, ref := range refs {
		var sec corev1.Secret
		err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &sec)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("Secret %s/%s not found", ns, ref.Name))
		case err != nil:
			return nil, fmt.Errorf("read webhook secret %s/%s: %w", ns, ref.Name, err)
		case len(sec.Data[ref.Key]) == 0:
			missing = append(missing, fmt.Sprintf("Secret %s/%s has no key %q", ns, ref.Name, ref.Key))
		default:
			out = append(out, sec.Data[ref.Key])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no config repo webhook secret: %s", strings.Join(missing, "; "))
	}
	return out, nil
}
