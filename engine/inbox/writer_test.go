package inbox_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/inbox"
	"slipway.dev/slipway/engine/kubescheme"
	"slipway.dev/slipway/webhooks/event"
)

// TestWriterConfig proves that the inbox's writer talks HTTP/1.1 to the real API server with the
// same credentials, without a client-side rate limit, and records Deliveries through it.
func TestWriterConfig(t *testing.T) {
	_, ns := testNamespace(t)
	base := apiServer.Config(t)
	base.QPS, base.Burst = 5, 10 // what a default client would throttle at
	cfg, err := inbox.WriterConfig(base, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.WriterConfig(base, 0); err == nil {
		t.Error("WriterConfig with no connections: want an error")
	}

	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(cfg.Host + "/apis/slipway.dev/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" {
		t.Errorf("GET the API group: %d over %s, want 200 over HTTP/1.1 with the admin's credentials", resp.StatusCode, resp.Proto)
	}

	scheme, err := kubescheme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox.Inbox{Writer: c, Reader: c, Namespace: ns}
	// More Creates at once than the pool has connections: all go through.
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			ev := event.Event{
				Provider: event.GitHub, Kind: event.Push, DeliveryID: "writer-" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
				RepoURL: "https://github.com/acme/hello.git", RepoFullName: "acme/hello", Ref: "refs/heads/main",
				Before: "9049f1265b7d61be4a8904a9a27120d2064dab3b", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
				ReceivedAt: time.Now(), BodySHA256: event.BodyDigest([]byte("{}")),
			}
			created, err := in.Record(t.Context(), ev)
			if err == nil && !created {
				err = errors.New(ev.DeliveryID + " not created")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if rl := restClientRateLimiter(t, cfg); rl != nil {
		t.Errorf("writer rate limiter %T, want none (took %s for %d Creates)", rl, time.Since(start), n)
	}
	if def := restClientRateLimiter(t, base); def == nil {
		t.Error("test setup: the base config has no rate limiter to remove")
	}
}

// restClientRateLimiter is the rate limiter client-go builds for cfg.
func restClientRateLimiter(t *testing.T, cfg *rest.Config) any {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &v1alpha1.GroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		t.Fatal(err)
	}
	if rl := rc.GetRateLimiter(); rl != nil {
		return rl
	}
	return nil
}
