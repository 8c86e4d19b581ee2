package github_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/internal/golden"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// receivedAt is the fixed receive time stamped on golden events.
var receivedAt = payloadtest.ReceivedAt()

// normalize runs a delivery through payloadtest.Normalize, checking first that Identify reads
// the delivery id from X-GitHub-Delivery.
func normalize(t *testing.T, header http.Header, body, secret []byte) []byte {
	t.Helper()
	p := github.New()
	if id, _, err := p.Identify(header, body); err == nil && id != header.Get(github.HeaderDelivery) {
		t.Errorf("Identify delivery id = %q, want the header's", id)
	}
	return payloadtest.Normalize(t, p, header, body, [][]byte{secret})
}

// TestGolden normalizes every GitHub payload and compares the result with its golden file.
// Refresh the golden files with: go test ./webhooks/github -update
func TestGolden(t *testing.T) {
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			got := normalize(t, p.header, p.body, p.secret)
			goldenPath := filepath.Join("testdata", "golden", filepath.FromSlash(p.name))
			golden.Check(t, goldenPath, got, *update)
		})
	}
}

// TestFormEncoded proves that a form-encoded delivery normalizes to the same event as its JSON
// form, apart from the digest of the body that was signed.
func TestFormEncoded(t *testing.T) {
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			header, body := formEncoded(p)
			var fromJSON, fromForm map[string]any
			if err := json.Unmarshal(normalize(t, p.header, p.body, p.secret), &fromJSON); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(normalize(t, header, body, p.secret), &fromForm); err != nil {
				t.Fatal(err)
			}
			if _, ignored := fromJSON["ignored"]; !ignored {
				if fromForm["bodySHA256"] != event.BodyDigest(body) {
					t.Errorf("bodySHA256 = %v, want the digest of the form body", fromForm["bodySHA256"])
				}
				delete(fromJSON, "bodySHA256")
				delete(fromForm, "bodySHA256")
			}
			if a, b := golden.JSON(t, fromJSON), golden.JSON(t, fromForm); !bytes.Equal(a, b) {
				t.Errorf("form-encoded delivery normalizes differently:\n%s\nvs JSON:\n%s", b, a)
			}
		})
	}
}

// TestKinds pins the kind each payload must normalize to, independently of the golden files.
func TestKinds(t *testing.T) {
	want := map[string]string{
		"ping.json":                                                "ping",
		"ping.with-organization.json":                              "ping",
		"push.new-branch.json":                                     "branch-create",
		"push.no-username-committer.json":                          "branch-create",
		"push.tag-deleted.json":                                    "ignored",
		"issue_comment.created.json":                               "ignored",
		"pull_request.opened.json":                                 "pr-opened",
		"pull_request.synchronize.json":                            "pr-updated",
		"pull_request.reopened.json":                               "pr-reopened",
		"pull_request.closed.json":                                 "pr-closed",
		"captured/pull_request.opened.body.json":                   "pr-opened",
		"captured/pull_request.synchronize.body.json":              "pr-updated",
		"captured/pull_request.closed-merged.body.json":            "pr-merged",
		"thirdparty/push.branch-update.drone-go-scm.json":          "push",
		"thirdparty/push.tag-created.drone-go-scm.json":            "tag",
		"thirdparty/pull_request.closed.drone-go-scm.json":         "pr-closed",
		"thirdparty/pull_request.synchronize.drone-go-scm.json":    "pr-updated",
		"thirdparty/issue_comment.created-on-pr.atlantis.json":     "pr-comment",
		"thirdparty/issue_comment.created-on-pr.drone-go-scm.json": "pr-comment",
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
			if _, ignored := got["ignored"]; ignored {
				got["kind"] = "ignored"
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

// TestCapturedSignatures checks the signatures GitHub itself computed, as recorded off the wire.
func TestCapturedSignatures(t *testing.T) {
	p := github.New()
	n := 0
	for _, pl := range loadPayloads(t) {
		if !pl.captured {
			continue
		}
		n++
		t.Run(pl.name, func(t *testing.T) {
			if err := p.Verify(pl.header, pl.body, [][]byte{capturedSecret}); err != nil {
				t.Errorf("real signature does not verify: %v", err)
			}
			rotated := [][]byte{[]byte("the-new-secret"), capturedSecret}
			if err := p.Verify(pl.header, pl.body, rotated); err != nil {
				t.Errorf("real signature does not verify against the older of two secrets: %v", err)
			}
			if err := p.Verify(pl.header, pl.body, [][]byte{testSecret}); !errors.Is(err, event.ErrBadSignature) {
				t.Errorf("Verify with the wrong secret = %v, want ErrBadSignature", err)
			}
		})
	}
	if n != 3 {
		t.Errorf("found %d captured deliveries, want 3", n)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	good := github.Sign(testSecret, body)
	tests := []struct {
		name      string
		signature string // "" sends no header
		body      []byte
		secrets   [][]byte
		want      error
	}{
		{name: "good", signature: good, body: body, secrets: [][]byte{testSecret}},
		{name: "second of two secrets", signature: good, body: body, secrets: [][]byte{[]byte("new"), testSecret}},
		{name: "empty secret skipped", signature: good, body: body, secrets: [][]byte{nil, testSecret}},
		{name: "upper-case hex", signature: "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), body: body, secrets: [][]byte{testSecret}},
		{name: "missing", body: body, secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
		{name: "wrong secret", signature: good, body: body, secrets: [][]byte{[]byte("other")}, want: event.ErrBadSignature},
		{name: "no secrets", signature: good, body: body, want: event.ErrBadSignature},
		{name: "only an empty secret", signature: github.Sign(nil, body), body: body, secrets: [][]byte{{}}, want: event.ErrBadSignature},
		{name: "body changed", signature: good, body: append([]byte(" "), body...), secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "sha1 prefix", signature: "sha1=" + strings.TrimPrefix(good, "sha256="), body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "not hex", signature: "sha256=zz", body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "truncated", signature: good[:len(good)-2], body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := jsonHeader("ping", "d1")
			if tt.signature != "" {
				h.Set(github.HeaderSignature, tt.signature)
			}
			err := github.New().Verify(h, tt.body, tt.secrets)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(good, "sha256=")) {
				t.Errorf("error %q leaks the signature", err)
			}
		})
	}
}
