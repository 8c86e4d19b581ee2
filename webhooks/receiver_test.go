package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/github"
)

const payloadDir = "../testdata/webhooks/github"

var (
	secret   = []byte("slipway-test-secret")
	received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// memSink is an in-memory Sink with the durable inbox's semantics: one record per provider and
// event key, a redelivery is a duplicate.
type memSink struct {
	mu      sync.Mutex
	records map[string]event.Event
	calls   int
	err     error
	// fail, when set, fails the Record calls it returns true for.
	fail    func(ev event.Event) bool
	entered chan struct{} // when set, Record reports that it was entered
	block   chan struct{} // when set, Record waits for it to close
}

func newSink() *memSink { return &memSink{records: map[string]event.Event{}} }

func (s *memSink) Record(ctx context.Context, ev event.Event) (bool, error) {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.block != nil {
		<-s.block
	}
	if _, ok := ctx.Deadline(); !ok {
		return false, errors.New("Record called without a deadline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return false, s.err
	}
	if s.fail != nil && s.fail(ev) {
		return false, errors.New("apiserver unavailable")
	}
	key := string(ev.Provider) + "/" + ev.Key()
	if _, ok := s.records[key]; ok {
		return false, nil
	}
	s.records[key] = ev
	return true, nil
}

func (s *memSink) counts() (calls, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, len(s.records)
}

// repoSecrets is a SecretSource keyed by repository full name.
type repoSecrets struct {
	secrets       map[string][][]byte
	allowUnsigned map[string]bool
	err           error
}

func (s repoSecrets) Secrets(_ context.Context, p event.Provider, repo event.Repo) ([][]byte, bool, error) {
	if p != event.GitHub {
		return nil, false, errors.New("unexpected provider " + string(p))
	}
	return s.secrets[repo.FullName], s.allowUnsigned[repo.FullName], s.err
}

var defaultSecrets = repoSecrets{secrets: map[string][][]byte{
	"Codertocat/Hello-World": {[]byte("rotated-out"), secret},
	"derekg1729/test-repo":   {[]byte("402786017574bd28f9d8f7a18648939751c47fe09077d56e10f0444f14fbb73b")},
}}

type fixture struct {
	rc   *webhooks.Receiver
	sink *memSink
	reg  *prometheus.Registry
	logs *bytes.Buffer
}

func newFixture(t *testing.T, secrets webhooks.SecretSource, opts ...webhooks.Option) *fixture {
	t.Helper()
	f := &fixture{sink: newSink(), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]webhooks.Option{
		webhooks.WithRegisterer(f.reg),
		webhooks.WithLogger(log),
		webhooks.WithClock(func() time.Time { return received }),
	}, opts...)
	rc, err := webhooks.New(f.sink, secrets, map[event.Provider]webhooks.Parser{event.GitHub: github.New()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.rc = rc
	return f
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(payloadDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// delivery builds a signed GitHub delivery of body.
func delivery(eventType, id string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(github.HeaderEvent, eventType)
	r.Header.Set(github.HeaderDelivery, id)
	r.Header.Set(github.HeaderSignature, github.Sign(secret, body))
	return r
}

func serve(h http.Handler, r *http.Request) (int, map[string]string, http.Header) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body, w.Header()
}

func TestReceiver(t *testing.T) {
	push := readFile(t, "thirdparty/push.branch-update.drone-go-scm.json")
	plainIssue := readFile(t, "issue_comment.created.json")
	tests := []struct {
		name        string
		secrets     webhooks.SecretSource
		sinkErr     error
		req         func() *http.Request
		wantStatus  int
		wantKey     string // key of the JSON answer
		wantRecords int
		wantCalls   int
		// wantUnsigned: the recorded event is marked unsigned and counted as such.
		wantUnsigned bool
	}{
		{name: "signed push is recorded", req: func() *http.Request { return delivery("push", "d-1", push) },
			wantStatus: 202, wantKey: "accepted", wantRecords: 1, wantCalls: 1},
		{name: "form-encoded push is recorded", req: func() *http.Request {
			form := []byte("payload=" + url.QueryEscape(string(push)))
			r := delivery("push", "d-1", form)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, wantStatus: 202, wantKey: "accepted", wantRecords: 1, wantCalls: 1},
		{name: "bad signature", req: func() *http.Request {
			r := delivery("push", "d-1", push)
			r.Header.Set(github.HeaderSignature, github.Sign([]byte("guess"), push))
			return r
		}, wantStatus: 401, wantKey: "error"},
		{name: "missing signature", req: func() *http.Request {
			r := delivery("push", "d-1", push)
			r.Header.Del(github.HeaderSignature)
			return r
		}, wantStatus: 401, wantKey: "error"},
		{name: "signature of another body", req: func() *http.Request {
			r := delivery("push", "d-1", push)
			r.Header.Set(github.HeaderSignature, github.Sign(secret, plainIssue))
			return r
		}, wantStatus: 401, wantKey: "error"},
		{name: "repository without secret", secrets: repoSecrets{}, req: func() *http.Request { return delivery("push", "d-1", push) },
			wantStatus: 401, wantKey: "error"},
		{name: "unsigned allowed by repository policy", secrets: repoSecrets{allowUnsigned: map[string]bool{"Codertocat/Hello-World": true}},
			req: func() *http.Request {
				r := delivery("push", "d-1", push)
				r.Header.Del(github.HeaderSignature)
				return r
			}, wantStatus: 202, wantKey: "accepted", wantRecords: 1, wantCalls: 1, wantUnsigned: true},
		{name: "unsigned allowed, secrets configured, no signature sent", secrets: repoSecrets{
			secrets: defaultSecrets.secrets, allowUnsigned: map[string]bool{"Codertocat/Hello-World": true}},
			req: func() *http.Request {
				r := delivery("push", "d-1", push)
				r.Header.Del(github.HeaderSignature)
				return r
			}, wantStatus: 202, wantKey: "accepted", wantRecords: 1, wantCalls: 1, wantUnsigned: true},
		{name: "unsigned allowed, signed delivery is not marked", secrets: repoSecrets{
			secrets: defaultSecrets.secrets, allowUnsigned: map[string]bool{"Codertocat/Hello-World": true}},
			req: func() *http.Request { return delivery("push", "d-1", push) }, wantStatus: 202, wantKey: "accepted", wantRecords: 1, wantCalls: 1},
		{name: "unsigned allowed, but a bad signature still fails", secrets: repoSecrets{
			secrets: defaultSecrets.secrets, allowUnsigned: map[string]bool{"Codertocat/Hello-World": true}},
			req: func() *http.Request {
				r := delivery("push", "d-1", push)
				r.Header.Set(github.HeaderSignature, github.Sign([]byte("guess"), push))
				return r
			}, wantStatus: 401, wantKey: "error"},
		{name: "wrong content type", req: func() *http.Request {
			r := delivery("push", "d-1", push)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, wantStatus: 415, wantKey: "error"},
		{name: "malformed JSON, correctly signed", req: func() *http.Request { return delivery("push", "d-1", []byte(`{"ref": "refs/heads/main",`)) },
			wantStatus: 400, wantKey: "error"},
		{name: "correctly signed but invalid event", req: func() *http.Request {
			body := bytes.Replace(push, []byte(`"clone_url": "https://`), []byte(`"clone_url": "ftp://`), 1)
			return delivery("push", "d-1", body)
		}, wantStatus: 400, wantKey: "error"},
		{name: "unused event type is ignored", req: func() *http.Request { return delivery("star", "d-1", push) },
			wantStatus: 200, wantKey: "ignored"},
		{name: "comment on a plain issue is ignored after verification", req: func() *http.Request { return delivery("issue_comment", "d-1", plainIssue) },
			wantStatus: 200, wantKey: "ignored"},
		{name: "comment on a plain issue with a bad signature", req: func() *http.Request {
			r := delivery("issue_comment", "d-1", plainIssue)
			r.Header.Set(github.HeaderSignature, github.Sign([]byte("guess"), plainIssue))
			return r
		}, wantStatus: 401, wantKey: "error"},
		{name: "record fails", sinkErr: errors.New("apiserver unavailable"), req: func() *http.Request { return delivery("push", "d-1", push) },
			wantStatus: 503, wantKey: "error", wantCalls: 1},
		{name: "secret lookup fails", secrets: repoSecrets{err: errors.New("informer not synced")},
			req: func() *http.Request { return delivery("push", "d-1", push) }, wantStatus: 503, wantKey: "error"},
		{name: "unknown provider", req: func() *http.Request {
			r := delivery("push", "d-1", push)
			r.URL.Path = "/hooks/svn"
			return r
		}, wantStatus: 404, wantKey: "error"},
		{name: "path below a provider", req: func() *http.Request {
			r := delivery("push", "d-1", push)
			r.URL.Path = "/hooks/github/x"
			return r
		}, wantStatus: 404, wantKey: "error"},
		{name: "GET", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/hooks/github", nil) },
			wantStatus: 405, wantKey: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets
			if secrets == nil {
				secrets = defaultSecrets
			}
			f := newFixture(t, secrets)
			f.sink.err = tt.sinkErr
			status, body, header := serve(f.rc, tt.req())
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %v)", status, tt.wantStatus, body)
			}
			if _, ok := body[tt.wantKey]; !ok || len(body) != 1 {
				t.Errorf("answer = %v, want one %q key", body, tt.wantKey)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			calls, records := f.sink.counts()
			if calls != tt.wantCalls || records != tt.wantRecords {
				t.Errorf("Record called %d times, %d records; want %d and %d", calls, records, tt.wantCalls, tt.wantRecords)
			}
			f.sink.mu.Lock()
			for _, ev := range f.sink.records {
				if ev.Unsigned != tt.wantUnsigned {
					t.Errorf("recorded event Unsigned = %v, want %v", ev.Unsigned, tt.wantUnsigned)
				}
			}
			f.sink.mu.Unlock()
			if tt.wantUnsigned {
				wantCounter(t, f.reg, "slipway_webhook_deliveries_unsigned_accepted_total", map[string]string{"provider": "github"}, 1)
				if !strings.Contains(f.logs.String(), `"level":"WARN","msg":"accepting`) {
					t.Errorf("no warning logged for an unsigned delivery:\n%s", f.logs.String())
				}
			}
			if status == 503 && header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if status == 405 && header.Get("Allow") != http.MethodPost {
				t.Errorf("405 with Allow %q", header.Get("Allow"))
			}
			if strings.Contains(f.logs.String(), strings.TrimPrefix(github.Sign(secret, push), "sha256=")) || strings.Contains(f.logs.String(), string(secret)) {
				t.Error("logs contain a signature or a secret")
			}
		})
	}
}

func TestRecordedEvent(t *testing.T) {
	f := newFixture(t, defaultSecrets)
	body := readFile(t, "thirdparty/push.branch-update.drone-go-scm.json")
	status, answer, _ := serve(f.rc, delivery("push", "d-42", body))
	if status != 202 || answer["accepted"] != "d-42" {
		t.Fatalf("got %d %v, want 202 accepted d-42", status, answer)
	}
	ev := f.sink.records["github/d-42"]
	if ev.Kind != event.Push || ev.Branch() != "master" || !ev.ReceivedAt.Equal(received) || ev.BodySHA256 != event.BodyDigest(body) {
		t.Errorf("recorded %+v", ev)
	}
	if !strings.Contains(f.logs.String(), `"delivery":"d-42"`) {
		t.Errorf("logs do not carry the delivery id:\n%s", f.logs)
	}
}

func TestRedelivery(t *testing.T) {
	f := newFixture(t, defaultSecrets)
	body := readFile(t, "pull_request.opened.json")
	if status, _, _ := serve(f.rc, delivery("pull_request", "d-7", body)); status != 202 {
		t.Fatalf("first delivery: status %d, want 202", status)
	}
	status, answer, _ := serve(f.rc, delivery("pull_request", "d-7", body))
	if status != 200 || answer["duplicate"] != "d-7" {
		t.Fatalf("redelivery: got %d %v, want 200 duplicate", status, answer)
	}
	if calls, records := f.sink.counts(); calls != 2 || records != 1 {
		t.Errorf("Record called %d times with %d records; want 2 calls, 1 record", calls, records)
	}
	wantCounter(t, f.reg, "slipway_webhook_deliveries_accepted_total", map[string]string{"provider": "github"}, 1)
	wantCounter(t, f.reg, "slipway_webhook_deliveries_duplicate_total", map[string]string{"provider": "github"}, 1)
}

// TestConcurrentRedeliveries sends one delivery many times at once: exactly one 202.
func TestConcurrentRedeliveries(t *testing.T) {
	f := newFixture(t, defaultSecrets)
	body := readFile(t, "push.new-branch.json")
	const n = 64
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			status, _, _ := serve(f.rc, delivery("push", "d-burst", body))
			statuses <- status
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if got[202] != 1 || got[200] != n-1 {
		t.Errorf("statuses %v, want one 202 and %d 200", got, n-1)
	}
}

func TestBodyTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte(" "), webhooks.DefaultMaxBodyBytes+1)
	tests := []struct {
		name    string
		chunked bool
	}{
		{name: "declared length"},
		{name: "chunked", chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultSecrets)
			r := delivery("push", "d-big", big)
			if tt.chunked {
				r.ContentLength = -1
			}
			status, body, _ := serve(f.rc, r)
			if status != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d (%v), want 413", status, body)
			}
			if calls, _ := f.sink.counts(); calls != 0 {
				t.Errorf("Record called %d times", calls)
			}
			wantCounter(t, f.reg, "slipway_webhook_deliveries_rejected_total", map[string]string{"provider": "github", "reason": "too_large"}, 1)
		})
	}
}

func TestMalformedReason(t *testing.T) {
	f := newFixture(t, defaultSecrets)
	status, body, _ := serve(f.rc, delivery("push", "d-1", []byte(`{"ref": [`)))
	if status != 400 || !strings.Contains(body["error"], "malformed delivery") {
		t.Errorf("got %d %v, want 400 naming the malformed delivery", status, body)
	}
	wantCounter(t, f.reg, "slipway_webhook_deliveries_rejected_total", map[string]string{"provider": "github", "reason": "malformed"}, 1)
}

func TestSaturated(t *testing.T) {
	f := newFixture(t, defaultSecrets, webhooks.WithMaxInFlight(1))
	f.sink.block = make(chan struct{})
	body := readFile(t, "thirdparty/push.branch-update.drone-go-scm.json")
	f.sink.entered = make(chan struct{}, 1)
	first := make(chan int)
	go func() {
		status, _, _ := serve(f.rc, delivery("push", "d-1", body))
		first <- status
	}()
	<-f.sink.entered // the first delivery holds the only slot
	status, _, _ := serve(f.rc, delivery("push", "d-2", body))
	if status != http.StatusServiceUnavailable {
		t.Errorf("second delivery: %d, want 503", status)
	}
	wantCounter(t, f.reg, "slipway_webhook_deliveries_rejected_total", map[string]string{"provider": "github", "reason": "saturated"}, 1)
	close(f.sink.block)
	if status := <-first; status != 202 {
		t.Errorf("first delivery: %d, want 202", status)
	}
}

func TestNew(t *testing.T) {
	parsers := map[event.Provider]webhooks.Parser{event.GitHub: github.New()}
	tests := []struct {
		name    string
		sink    webhooks.Sink
		secrets webhooks.SecretSource
		parsers map[event.Provider]webhooks.Parser
	}{
		{name: "nil sink", secrets: defaultSecrets, parsers: parsers},
		{name: "nil secrets", sink: newSink(), parsers: parsers},
		{name: "no parsers", sink: newSink(), secrets: defaultSecrets},
		{name: "unknown provider", sink: newSink(), secrets: defaultSecrets, parsers: map[event.Provider]webhooks.Parser{"svn": github.New()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := webhooks.New(tt.sink, tt.secrets, tt.parsers); err == nil {
				t.Error("New succeeded")
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := webhooks.New(newSink(), defaultSecrets, parsers, webhooks.WithRegisterer(reg)); err != nil {
		t.Fatal(err)
	}
	if _, err := webhooks.New(newSink(), defaultSecrets, parsers, webhooks.WithRegisterer(reg)); err == nil {
		t.Error("second Receiver on one registry: want a registration error")
	}
}

// wantCounter checks one counter's value in reg.
func wantCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			if got := m.GetCounter().GetValue(); got != want {
				t.Errorf("%s%v = %v, want %v", name, labels, got, want)
			}
			return
		}
	}
	t.Errorf("%s%v not found", name, labels)
}
