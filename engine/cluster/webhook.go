package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/providers"
)

// RunWebhook serves the webhook receiver on c.Addr until ctx ends: deliveries under
// /hooks/<provider> are verified and recorded as Deliveries, the receiver's metrics are at
// /metrics. Deliveries and the Applications they are matched against live in the one
// application namespace, or in c.Namespace when none is given.
func RunWebhook(ctx context.Context, c WebhookConfig) error {
	log := c.logger().With("component", "webhook")
	ns := c.Namespace
	if len(c.ApplicationNamespaces) == 1 {
		ns = c.ApplicationNamespaces[0]
	}
	common := c.Common
	common.ApplicationNamespaces = []string{ns} // Applications and their Secrets, nothing else
	common.LeaderElect = false
	mgr, err := newManager(common, "webhook", "")
	if err != nil {
		return err
	}
	// Start the informers with the manager, so that the first delivery finds them synced.
	for _, o := range []client.Object{&v1alpha1.Application{}, &corev1.Secret{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, o); err != nil {
			return fmt.Errorf("webhook: informer: %w", err)
		}
	}
	// The receiver writes one Delivery per webhook and must not queue behind a client-side
	// rate limiter: the API server's own flow control protects it.
	wcfg, err := inbox.WriterConfig(c.Kube, webhooks.DefaultMaxInFlight)
	if err != nil {
		return fmt.Errorf("webhook: client: %w", err)
	}
	wcfg.UserAgent = "slipway-webhook"
	writer, err := client.New(wcfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("webhook: client: %w", err)
	}
	in := &inbox.Inbox{Writer: writer, Reader: mgr.GetClient(), Namespace: ns}
	secrets := &providerSecrets{apps: in, reader: mgr.GetAPIReader(), namespace: c.Namespace, refs: c.Secrets, log: log}
	reg := prometheus.NewRegistry()
	recv, err := webhooks.New(in, secrets, providers.All(), webhooks.WithLogger(c.logger().With("component", "webhooks")),
		webhooks.WithRegisterer(reg))
	if err != nil {
		return fmt.Errorf("webhook: receiver: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", recv)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := webhooks.NewServer(c.Addr, mux)
	// Listen before the manager starts, so that /readyz never answers before the receiver does.
	l, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("webhook: listen on %s: %w", c.Addr, err)
	}
	if err := mgr.Add(runnable{everywhere: true, f: func(ctx context.Context) error { return serve(ctx, srv, l) }}); err != nil {
		l.Close()
		return fmt.Errorf("webhook: %w", err)
	}
	log.Info("starting", "addr", c.Addr, "namespace", ns, "providerWideSecrets", len(c.Secrets))
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// serve runs srv on l until ctx ends, then gives requests in flight a grace period.
func serve(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	// Shutdown needs a context of its own: ctx is already done.
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// appSecrets is the part of the inbox that finds the Applications' webhook secrets.
type appSecrets interface {
	Secrets(ctx context.Context, p event.Provider, repo event.Repo) ([][]byte, bool, error)
}

// providerSecrets adds the provider-wide webhook secrets (for example a GitLab system hook's
// token) to the Applications' own. They are read by name, uncached, because the receiver may
// read only those Secrets in its namespace.
type providerSecrets struct {
	apps      appSecrets
	reader    client.Reader
	namespace string
	refs      []SecretRef
	log       *slog.Logger
}

// Secrets returns the Applications' secrets for repo followed by every provider-wide one.
func (s *providerSecrets) Secrets(ctx context.Context, p event.Provider, repo event.Repo) ([][]byte, bool, error) {
	secrets, allowUnsigned, err := s.apps.Secrets(ctx, p, repo)
	if err != nil {
		return nil, false, err
	}
	for _, ref := range s.refs {
		var sec corev1.Secret
		err := s.reader.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: ref.Name}, &sec)
		if apierrors.IsNotFound(err) {
			s.log.Warn("provider-wide webhook secret not found", "secret", ref.Name, "namespace", s.namespace)
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("read provider-wide webhook secret %s: %w", ref.Name, err)
		}
		if v := sec.Data[ref.Key]; len(v) > 0 {
			secrets = append(secrets, v)
		} else {
			s.log.Warn("provider-wide webhook secret has no such key", "secret", ref.Name, "key", ref.Key)
		}
	}
	return secrets, allowUnsigned, nil
}
