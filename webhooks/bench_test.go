package webhooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/github"
)

// countSink accepts every delivery and only counts them, so that the benchmarks measure the
// receiver (read, identify, verify, parse, validate, answer) and not a store.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Record(context.Context, event.Event) (bool, error) {
	s.n.Add(1)
	return true, nil
}

func newBenchReceiver(b *testing.B) (*webhooks.Receiver, *countSink) {
	b.Helper()
	sink := &countSink{}
	rc, err := webhooks.New(sink, defaultSecrets, map[event.Provider]webhooks.Parser{event.GitHub: github.New()})
	if err != nil {
		b.Fatal(err)
	}
	return rc, sink
}

// BenchmarkReceiverGitHubPush serves one signed, real GitHub push delivery through the Receiver:
// body read, HMAC-SHA256 verification against two secrets (one rotated out), parse, validation
// and the JSON answer.
func BenchmarkReceiverGitHubPush(b *testing.B) {
	push := readFile(b, "thirdparty/push.branch-update.drone-go-scm.json")
	rc, sink := newBenchReceiver(b)
	b.SetBytes(int64(len(push)))
	for b.Loop() {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, delivery("push", "bench-1", push))
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if sink.n.Load() == 0 {
		b.Fatal("nothing recorded")
	}
}

// BenchmarkReceiverGitHubPushParallel is BenchmarkReceiverGitHubPush from GOMAXPROCS goroutines,
// to show contention in the receiver itself (the in-flight cap, metrics, logger).
func BenchmarkReceiverGitHubPushParallel(b *testing.B) {
	push := readFile(b, "thirdparty/push.branch-update.drone-go-scm.json")
	rc, _ := newBenchReceiver(b)
	b.SetBytes(int64(len(push)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, delivery("push", "bench-1", push))
			if w.Code != http.StatusAccepted {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
