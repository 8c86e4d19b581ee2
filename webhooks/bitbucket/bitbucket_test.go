package bitbucket_test

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/internal/golden"
	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// receivedAt is the fixed receive time stamped on golden events.
var receivedAt = payloadtest.ReceivedAt()

// normalize runs a delivery the way the receiver does; see payloadtest.Normalize.
func normalize(t *testing.T, header http.Header, body []byte) []byte {
	t.Helper()
	return payloadtest.Normalize(t, bitbucket.New(), header, body, [][]byte{testSecret})
}

// TestGolden normalizes every Bitbucket payload and compares the result with its golden file.
// Refresh the golden files with: go test ./webhooks/bitbucket -update
func TestGolden(t *testing.T) {
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			got := normalize(t, p.header, p.body)
			goldenPath := filepath.Join("testdata", "golden", filepath.FromSlash(p.name))
			golden.Check(t, goldenPath, got, *update)
		})
	}
}

// TestKinds pins the kind each payload must normalize to, independently of the golden files.
func TestKinds(t *testing.T) {
	want := map[string]string{
		"captured/pullrequest_approved.body.json":                  "ignored",
		"captured/pullrequest_created.inferred.body.json":          "pr-opened",
		"captured/pullrequest_fulfilled.body.json":                 "pr-merged",
		"captured/pullrequest_updated.inferred.body.json":          "pr-updated",
		"captured/repo_push.branch-create.body.json":               "branch-create",
		"captured/repo_push.branch-delete.body.json":               "branch-delete",
		"captured/repo_push.branch-update.body.json":               "push",
		"thirdparty/pullrequest_comment_created.atlantis.json":     "pr-comment",
		"thirdparty/pullrequest_comment_created.drone-go-scm.json": "pr-comment",
		"thirdparty/pullrequest_created.atlantis.json":             "pr-opened",
		"thirdparty/pullrequest_created.drone-go-scm.json":         "pr-opened",
		"thirdparty/pullrequest_fulfilled.atlantis.json":           "pr-merged",
		"thirdparty/pullrequest_fulfilled.drone-go-scm.json":       "pr-merged",
		"thirdparty/pullrequest_rejected.drone-go-scm.json":        "pr-closed",
		"thirdparty/pullrequest_updated.atlantis.json":             "pr-updated",
		"thirdparty/pullrequest_updated.drone-go-scm.json":         "pr-updated",
		"thirdparty/repo_push.branch-create.drone-go-scm.json":     "branch-create",
		"thirdparty/repo_push.branch-delete.drone-go-scm.json":     "branch-delete",
		"thirdparty/repo_push.drone-go-scm.json":                   "push",
		"thirdparty/repo_push.tag-create.drone-go-scm.json":        "tag",
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
			if err := json.Unmarshal(normalize(t, p.header, p.body), &got); err != nil {
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

func TestVerify(t *testing.T) {
	body := []byte(`{"push":{"changes":[]}}`)
	good := bitbucket.Sign(testSecret, body)
	hexSum := strings.TrimPrefix(good, "sha256=")
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
		{name: "upper-case hex", signature: "sha256=" + strings.ToUpper(hexSum), body: body, secrets: [][]byte{testSecret}},
		{name: "missing (hook without secret)", body: body, secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
		{name: "wrong secret", signature: good, body: body, secrets: [][]byte{[]byte("other")}, want: event.ErrBadSignature},
		{name: "no secrets", signature: good, body: body, want: event.ErrBadSignature},
		{name: "only an empty secret", signature: bitbucket.Sign(nil, body), body: body, secrets: [][]byte{{}}, want: event.ErrBadSignature},
		{name: "body changed", signature: good, body: append([]byte(" "), body...), secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "no prefix", signature: hexSum, body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "sha1 prefix", signature: "sha1=" + hexSum, body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "not hex", signature: "sha256=zz", body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "truncated", signature: good[:len(good)-2], body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bbHeader("repo:push", "d1")
			if tt.signature != "" {
				h.Set(bitbucket.HeaderSignature, tt.signature)
			}
			err := bitbucket.New().Verify(h, tt.body, tt.secrets)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(strings.ToLower(err.Error()), hexSum) {
				t.Errorf("error %q leaks the signature", err)
			}
		})
	}
}
