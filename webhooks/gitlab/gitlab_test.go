package gitlab_test

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/internal/golden"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitlab"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// receivedAt is the fixed receive time stamped on golden events.
var receivedAt = payloadtest.ReceivedAt()

// normalize runs a delivery the way the receiver does; see payloadtest.Normalize.
func normalize(t *testing.T, header http.Header, body, secret []byte) []byte {
	t.Helper()
	return payloadtest.Normalize(t, gitlab.New(), header, body, [][]byte{secret})
}

// TestGolden normalizes every GitLab payload and compares the result with its golden file.
// Refresh the golden files with: go test ./webhooks/gitlab -update
func TestGolden(t *testing.T) {
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			got := normalize(t, p.header, p.body, p.secret)
			goldenPath := filepath.Join("testdata", "golden", filepath.FromSlash(p.name))
			golden.Check(t, goldenPath, got, *update)
		})
	}
}

// TestKinds pins the outcome each payload must normalize to, independently of the golden files.
func TestKinds(t *testing.T) {
	want := map[string]string{
		"captured/merge_request.open.body.json":                    "pr-opened",
		"client-go/merge_request.merge.group-hook.json":            "malformed", // its keys end in spaces ("iid ")
		"client-go/merge_request.open.json":                        "pr-opened",
		"client-go/merge_request.update.json":                      "pr-updated",
		"client-go/note.commit.json":                               "ignored",
		"client-go/note.merge_request.json":                        "pr-comment",
		"client-go/push.json":                                      "push",
		"client-go/tag_push.json":                                  "tag",
		"docs/merge_request.open.json":                             "pr-opened",
		"docs/note.merge_request.json":                             "pr-comment",
		"docs/push.json":                                           "push",
		"docs/tag_push.json":                                       "tag",
		"thirdparty/merge_request.close.drone-go-scm.json":         "pr-closed",
		"thirdparty/merge_request.merge.drone-go-scm.json":         "pr-merged",
		"thirdparty/merge_request.open.drone-go-scm.json":          "pr-opened",
		"thirdparty/merge_request.reopen.drone-go-scm.json":        "pr-reopened",
		"thirdparty/merge_request.update-mark-ready.atlantis.json": "ignored",
		"thirdparty/merge_request.update-new-commit.atlantis.json": "pr-updated",
		"thirdparty/merge_request.update-title.atlantis.json":      "ignored",
		"thirdparty/note.merge_request.atlantis.json":              "pr-comment",
		"thirdparty/note.merge_request.drone-go-scm.json":          "pr-comment",
		"thirdparty/push.branch-create.drone-go-scm.json":          "branch-create",
		"thirdparty/push.branch-delete.drone-go-scm.json":          "branch-delete",
		"thirdparty/push.drone-go-scm.json":                        "push",
		"thirdparty/tag_push.create.drone-go-scm.json":             "tag",
		"thirdparty/tag_push.delete.drone-go-scm.json":             "ignored",
	}
	seen := 0
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			kind, ok := want[p.name]
			if !ok {
				t.Fatalf("no expected kind for %s; add it", p.name)
			}
			seen++
			var got map[string]any
			if err := json.Unmarshal(normalize(t, p.header, p.body, p.secret), &got); err != nil {
				t.Fatal(err)
			}
			for _, outcome := range []string{"ignored", "malformed"} {
				if _, ok := got[outcome]; ok {
					got["kind"] = outcome
				}
			}
			if got["kind"] != kind {
				t.Errorf("kind = %v, want %s", got["kind"], kind)
			}
		})
	}
	if seen != len(want) {
		t.Errorf("saw %d of %d expected payloads", seen, len(want))
	}
}

// TestCaptured checks the delivery recorded off the wire: its real token verifies, and its ids and
// subgroup project come through.
func TestCaptured(t *testing.T) {
	p := gitlab.New()
	n := 0
	for _, pl := range loadPayloads(t) {
		if !pl.captured {
			continue
		}
		n++
		t.Run(pl.name, func(t *testing.T) {
			if err := p.Verify(pl.header, pl.body, [][]byte{capturedSecret}); err != nil {
				t.Errorf("real token does not verify: %v", err)
			}
			rotated := [][]byte{[]byte("the-new-token"), capturedSecret}
			if err := p.Verify(pl.header, pl.body, rotated); err != nil {
				t.Errorf("real token does not verify against the older of two secrets: %v", err)
			}
			if err := p.Verify(pl.header, pl.body, [][]byte{testSecret}); !errors.Is(err, event.ErrBadSignature) {
				t.Errorf("Verify with the wrong secret = %v, want ErrBadSignature", err)
			}
			ev, err := payloadtest.ParseOne(t, p, pl.header, pl.body)
			if err != nil {
				t.Fatal(err)
			}
			if want := pl.header.Get(gitlab.HeaderIdempotencyKey); want == "" || ev.DeliveryID != want {
				t.Errorf("DeliveryID = %q, want the recorded Idempotency-Key %q", ev.DeliveryID, want)
			}
			if segments := strings.Count(ev.RepoFullName, "/") + 1; segments != 3 {
				t.Errorf("RepoFullName = %q, want the subgroup project's three segments", ev.RepoFullName)
			}
		})
	}
	if n != 1 {
		t.Errorf("found %d captured deliveries, want 1", n)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"object_kind":"push"}`)
	secret := string(testSecret)
	tests := []struct {
		name    string
		tokens  []string // header values; nil sends no header
		secrets [][]byte
		want    error
	}{
		{name: "good", tokens: []string{secret}, secrets: [][]byte{testSecret}},
		{name: "second of two secrets", tokens: []string{secret}, secrets: [][]byte{[]byte("new"), testSecret}},
		{name: "first of two secrets", tokens: []string{secret}, secrets: [][]byte{testSecret, []byte("old")}},
		{name: "empty secret skipped", tokens: []string{secret}, secrets: [][]byte{nil, testSecret}},
		{name: "binary secret", tokens: []string{"\x00\xff"}, secrets: [][]byte{{0, 0xff}}},
		{name: "missing", secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
		{name: "empty", tokens: []string{""}, secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
		{name: "wrong token", tokens: []string{"other"}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "no secrets", tokens: []string{secret}, want: event.ErrBadSignature},
		{name: "only an empty secret", tokens: []string{"x"}, secrets: [][]byte{{}}, want: event.ErrBadSignature},
		{name: "prefix of the secret", tokens: []string{secret[:len(secret)-1]}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "secret with a suffix", tokens: []string{secret + "x"}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "secret is a prefix of a longer one", tokens: []string{secret}, secrets: [][]byte{append(testSecret, 'x')}, want: event.ErrBadSignature},
		{name: "different case", tokens: []string{strings.ToUpper(secret)}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "padded with spaces", tokens: []string{" " + secret + " "}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "very long", tokens: []string{strings.Repeat(secret, 1000)}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "two token headers", tokens: []string{secret, secret}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "wrong then right header", tokens: []string{"other", secret}, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := jsonHeader("Push Hook")
			for _, v := range tt.tokens {
				h.Add(gitlab.HeaderToken, v)
			}
			err := gitlab.New().Verify(h, body, tt.secrets)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			for _, v := range append(tt.tokens, secret) {
				if err != nil && v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("error %q leaks a token", err)
				}
			}
		})
	}
}

func TestDeliveryID(t *testing.T) {
	const (
		key       = "fde843d3-c383-4a02-b86a-ac9eb7204232"
		eventUUID = "50ad7229-e77b-42ff-bd60-01a457b1f853"
		hookUUID  = "51061a21-307e-4292-ab3b-9e3bb7aa8b0b"
	)
	body, err := os.ReadFile(filepath.Join(payloadDir, "docs/push.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		headers map[string]string
		want    string // "derived" for any derived id
		wantErr error
	}{
		{name: "idempotency key", headers: map[string]string{gitlab.HeaderIdempotencyKey: key}, want: key},
		{name: "event uuid", headers: map[string]string{gitlab.HeaderEventUUID: eventUUID}, want: eventUUID},
		{name: "idempotency key before event uuid", headers: map[string]string{gitlab.HeaderEventUUID: eventUUID, gitlab.HeaderIdempotencyKey: key}, want: key},
		{name: "webhook uuid alone is not an id", headers: map[string]string{"X-Gitlab-Webhook-UUID": hookUUID}, want: "derived"},
		{name: "none", want: "derived"},
		{name: "key with a space", headers: map[string]string{gitlab.HeaderIdempotencyKey: "a b"}, wantErr: event.ErrMalformed},
		{name: "key too long", headers: map[string]string{gitlab.HeaderIdempotencyKey: strings.Repeat("a", event.MaxDeliveryIDLen+1)}, wantErr: event.ErrMalformed},
		{name: "event uuid with a control character", headers: map[string]string{gitlab.HeaderEventUUID: "a\x01"}, wantErr: event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := jsonHeader("Push Hook")
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			p := gitlab.New()
			id, _, idErr := p.Identify(h, body)
			ev, err := payloadtest.ParseOne(t, p, h, body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(idErr, tt.wantErr) {
					t.Fatalf("Identify = %v, Parse = %v, want %v", idErr, err, tt.wantErr)
				}
				return
			}
			if err != nil || idErr != nil {
				t.Fatalf("Identify = %v, Parse = %v", idErr, err)
			}
			if tt.want == "derived" {
				if !strings.HasPrefix(ev.DeliveryID, "derived-") || id != "" {
					t.Errorf("Parse id = %q, Identify id = %q, want a derived id and none from Identify", ev.DeliveryID, id)
				}
				return
			}
			if ev.DeliveryID != tt.want || id != tt.want {
				t.Errorf("Parse id = %q, Identify id = %q, want %q", ev.DeliveryID, id, tt.want)
			}
		})
	}
}

// TestDerivedDeliveryID proves that a delivery without id headers gets an id that a redelivery
// repeats and that another event does not.
func TestDerivedDeliveryID(t *testing.T) {
	const note = "docs/note.merge_request.json"
	parse := func(t *testing.T, eventType string, body []byte) event.Event {
		t.Helper()
		h := jsonHeader(eventType)
		h.Set("X-Gitlab-Webhook-UUID", strings.Repeat("7", 36)) // new on every request
		ev, err := payloadtest.ParseOne(t, gitlab.New(), h, body)
		if err != nil {
			t.Fatal(err)
		}
		ev.ReceivedAt, ev.BodySHA256 = receivedAt, event.BodyDigest(body)
		if err := ev.Validate(); err != nil {
			t.Fatalf("derived id does not validate: %v", err)
		}
		return ev
	}
	orig := parse(t, "Note Hook", edited(t, note, func(map[string]any) {}))
	tests := []struct {
		name string
		edit func(doc map[string]any)
		same bool
	}{
		{name: "redelivery", edit: func(map[string]any) {}, same: true},
		{name: "redelivery with other timestamps", edit: func(d map[string]any) { attrs(d)["updated_at"] = "2026-01-01T00:00:00Z" }, same: true},
		{name: "another note with the same text", edit: func(d map[string]any) { attrs(d)["id"] = 1245.0 }},
		{name: "another text", edit: func(d map[string]any) { attrs(d)["note"] = "/retest" }},
		{name: "another head", edit: func(d map[string]any) {
			d["merge_request"].(map[string]any)["last_commit"].(map[string]any)["id"] = strings.Repeat("b", 40)
		}},
		{name: "another merge request", edit: func(d map[string]any) { d["merge_request"].(map[string]any)["iid"] = 2.0 }},
		{name: "another project", edit: func(d map[string]any) { d["project"].(map[string]any)["path_with_namespace"] = "gitlab-org/other" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse(t, "Note Hook", edited(t, note, tt.edit))
			if (got.DeliveryID == orig.DeliveryID) != tt.same {
				t.Errorf("derived id %q vs original %q, want same=%v", got.DeliveryID, orig.DeliveryID, tt.same)
			}
		})
	}
	t.Run("kinds at one head differ", func(t *testing.T) {
		ids := map[string]string{}
		for _, name := range []string{"open", "close", "merge", "reopen"} {
			ev := parse(t, "Merge Request Hook", edited(t, "thirdparty/merge_request.open.drone-go-scm.json", func(d map[string]any) { attrs(d)["action"] = name }))
			if other, dup := ids[ev.DeliveryID]; dup {
				t.Errorf("%s and %s share derived id %q", name, other, ev.DeliveryID)
			}
			ids[ev.DeliveryID] = name
		}
	})
}
