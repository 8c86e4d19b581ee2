package webhooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"

	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/providers"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// TestSeveralEvents sends a Bitbucket push of three refs: every change is recorded before the
// 2xx, each on its own key; when recording one fails the answer is 503, and the provider's retry
// records what is missing and finds the rest as duplicates.
func TestSeveralEvents(t *testing.T) {
	raw, err := os.ReadFile("../testdata/webhooks/bitbucket/captured/repo_push.branch-update.body.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	const a, b = "49cb0fd6590af14dbfb717d0e801f325362af5d9", "6ca0691239785a619fa1dce7bf1073f50499cd60"
	ref := func(typ, name, hash string) any {
		if hash == "" {
			return nil
		}
		return map[string]any{"type": typ, "name": name, "target": map[string]any{"hash": hash}}
	}
	doc["push"] = map[string]any{"changes": []any{
		map[string]any{"old": ref("branch", "main", a), "new": ref("branch", "main", b)},
		map[string]any{"old": ref("tag", "v0", a), "new": nil},
		map[string]any{"old": nil, "new": ref("tag", "v1", b)},
		map[string]any{"old": nil, "new": ref("branch", "next", b)},
	}}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}

	sink := newSink()
	failTag := true
	sink.fail = func(ev event.Event) bool { return failTag && ev.Ref == "refs/tags/v1" }
	rc, err := webhooks.New(sink, anyRepo{secret}, providers.All())
	if err != nil {
		t.Fatal(err)
	}
	post := func(id string) (int, map[string]string) {
		d := webhooktest.Delivery{Provider: event.Bitbucket, Event: "repo:push", ID: id, Body: body, Secret: secret}
		h, err := d.Header()
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks/bitbucket", bytes.NewReader(body))
		r.Header = h
		code, answer, _ := serve(rc, r)
		return code, answer
	}
	refs := func() string {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		var out []string
		for _, ev := range sink.records {
			out = append(out, ev.Ref+"@"+ev.DeliveryID)
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}

	if code, answer := post("req-1"); code != http.StatusServiceUnavailable {
		t.Fatalf("first attempt: %d %v, want 503 while one change cannot be recorded", code, answer)
	}
	if got, want := refs(), "[refs/heads/main@req-1]"; got != want {
		t.Errorf("after the failed attempt, recorded %s, want %s", got, want)
	}
	failTag = false
	if code, answer := post("req-2"); code != http.StatusAccepted || answer["accepted"] != "req-2" {
		t.Fatalf("retry: %d %v, want 202 accepted req-2", code, answer)
	}
	if got, want := refs(), "[refs/heads/main@req-1 refs/heads/next@req-2 refs/tags/v1@req-2]"; got != want {
		t.Errorf("after the retry, recorded %s, want %s (the deleted tag is no work)", got, want)
	}
	if code, answer := post("req-3"); code != http.StatusOK || answer["duplicate"] != "req-3" {
		t.Fatalf("resend: %d %v, want 200 duplicate", code, answer)
	}
	if calls, records := sink.counts(); records != 3 || calls != 2+3+3 {
		t.Errorf("%d Record calls, %d records; want 8 calls (2, 3, 3) and 3 records", calls, records)
	}
}
