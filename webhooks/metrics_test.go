package webhooks_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/providers"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// providerPayload is one real push of a provider and an event type that provider sends but
// Slipway does not use.
type providerPayload struct {
	provider event.Provider
	event    string
	file     string
	unused   string
	// stableID: the provider repeats its delivery id on a redelivery, so a new id is new work;
	// otherwise a body resent under a new id is a duplicate.
	stableID bool
}

var allProviders = []providerPayload{
	{event.GitHub, "push", "github/thirdparty/push.branch-update.drone-go-scm.json", "star", true},
	{event.GitLab, "Push Hook", "gitlab/client-go/push.json", "Job Hook", true},
	{event.Gitea, "push", "gitea/thirdparty/push.drone-go-scm.json", "wiki", false},
	{event.Forgejo, "push", "gitea/thirdparty/push.drone-go-scm.json", "wiki", false},
	{event.Bitbucket, "repo:push", "bitbucket/captured/repo_push.branch-update.body.json", "repo:fork", false},
}

// anyRepo is a SecretSource that has the same secret for every provider and repository.
type anyRepo struct{ secret []byte }

func (s anyRepo) Secrets(context.Context, event.Provider, event.Repo) ([][]byte, bool, error) {
	return [][]byte{s.secret}, false, nil
}

// stepClock advances by step on every reading, so each answer takes exactly step: the receiver
// reads the clock once when a delivery arrives and once when it has answered.
type stepClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// TestMetricsByProvider sends every provider's deliveries through each outcome (accepted,
// duplicate, ignored, and each rejection) and checks the counters by provider and reason and the
// acknowledgement latency histogram by provider and status code.
func TestMetricsByProvider(t *testing.T) {
	const step = 30 * time.Millisecond // between the histogram's 25 ms and 50 ms buckets
	const maxBody = 1 << 20
	sink := newSink()
	sink.fail = func(ev event.Event) bool { return strings.HasPrefix(ev.DeliveryID, "fail-") }
	reg := prometheus.NewRegistry()
	clock := &stepClock{now: received, step: step}
	rc, err := webhooks.New(sink, anyRepo{secret}, providers.All(), webhooks.WithRegisterer(reg),
		webhooks.WithClock(clock.Now), webhooks.WithMaxBodyBytes(maxBody))
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range allProviders {
		t.Run(string(pp.provider), func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("../testdata/webhooks", pp.file))
			if err != nil {
				t.Fatal(err)
			}
			d := func(event, id string, body []byte, sig webhooktest.Signature) webhooktest.Delivery {
				return webhooktest.Delivery{Provider: pp.provider, Event: event, ID: id, Body: body, Secret: secret, Signature: sig}
			}
			newID := http.StatusOK
			if pp.stableID {
				newID = http.StatusAccepted
			}
			steps := []struct {
				name string
				d    webhooktest.Delivery
				edit func(*http.Request)
				want int
			}{
				{name: "accepted", d: d(pp.event, "m-1", body, webhooktest.Signed), want: http.StatusAccepted},
				{name: "redelivered", d: d(pp.event, "m-1", body, webhooktest.Signed), want: http.StatusOK},
				{name: "resent under a new id", d: d(pp.event, "m-2", body, webhooktest.Signed), want: newID},
				{name: "unused event", d: d(pp.unused, "m-3", body, webhooktest.Signed), want: http.StatusOK},
				{name: "bad signature", d: d(pp.event, "m-4", body, webhooktest.BadSignature), want: http.StatusUnauthorized},
				{name: "missing signature", d: d(pp.event, "m-5", body, webhooktest.Unsigned), want: http.StatusUnauthorized},
				{name: "wrong content type", d: d(pp.event, "m-6", body, webhooktest.Signed),
					edit: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, want: http.StatusUnsupportedMediaType},
				{name: "malformed", d: d(pp.event, "m-7", []byte(`{"ref": [`), webhooktest.Signed), want: http.StatusBadRequest},
				{name: "too large", d: d(pp.event, "m-8", bytes.Repeat([]byte(" "), maxBody+1), webhooktest.Signed), want: http.StatusRequestEntityTooLarge},
				{name: "not recorded", d: d(pp.event, "fail-1", body, webhooktest.Signed),
					want: http.StatusServiceUnavailable},
			}
			for _, s := range steps {
				req, err := s.d.Request(t.Context(), "http://receiver.test")
				if err != nil {
					t.Fatal(err)
				}
				r := httptest.NewRequestWithContext(t.Context(), req.Method, req.URL.String(), bytes.NewReader(s.d.Body))
				r.Header = req.Header
				if s.edit != nil {
					s.edit(r)
				}
				if code, answer, _ := serve(rc, r); code != s.want {
					t.Errorf("%s: status %d (%v), want %d", s.name, code, answer, s.want)
				}
			}

			p := map[string]string{"provider": string(pp.provider)}
			accepted, duplicates := 1.0, 2.0
			if pp.stableID {
				accepted, duplicates = 2, 1
			}
			wantCounter(t, reg, "slipway_webhook_deliveries_accepted_total", p, accepted)
			wantCounter(t, reg, "slipway_webhook_deliveries_duplicate_total", p, duplicates)
			wantCounter(t, reg, "slipway_webhook_deliveries_ignored_total", p, 1)
			for _, reason := range []string{"signature_invalid", "signature_missing", "content_type", "malformed", "too_large", "record_failed"} {
				wantCounter(t, reg, "slipway_webhook_deliveries_rejected_total", map[string]string{"provider": string(pp.provider), "reason": reason}, 1)
			}
			codes := map[int]uint64{}
			for _, s := range steps {
				codes[s.want]++
			}
			for code, n := range codes {
				wantAckHistogram(t, reg, string(pp.provider), code, n, step)
			}
		})
	}
}

// wantAckHistogram checks that the acknowledgement histogram holds n observations of exactly
// latency for provider and code: in the bucket that holds latency, none below it.
func wantAckHistogram(t *testing.T, reg *prometheus.Registry, provider string, code int, n uint64, latency time.Duration) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := fmt.Sprintf("{provider=%s code=%d}", provider, code)
	for _, mf := range families {
		if mf.GetName() != "slipway_webhook_ack_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if got["provider"] != provider || got["code"] != strconv.Itoa(code) {
				continue
			}
			h := m.GetHistogram()
			if h.GetSampleCount() != n {
				t.Errorf("ack histogram%s has %d samples, want %d", labels, h.GetSampleCount(), n)
			}
			if want := float64(n) * latency.Seconds(); h.GetSampleSum() < want*0.999 || h.GetSampleSum() > want*1.001 {
				t.Errorf("ack histogram%s sums to %gs, want %gs", labels, h.GetSampleSum(), want)
			}
			for _, b := range h.GetBucket() {
				want := uint64(0)
				if b.GetUpperBound() >= latency.Seconds() {
					want = n
				}
				if b.GetCumulativeCount() != want {
					t.Errorf("ack histogram%s bucket le=%g holds %d, want %d", labels, b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
			return
		}
	}
	t.Errorf("ack histogram%s not found", labels)
}
