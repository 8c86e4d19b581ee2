package gitea_test

import (
	"bytes"
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
	"slipway.dev/slipway/webhooks/gitea"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// receivedAt is the fixed receive time stamped on golden events.
var receivedAt = payloadtest.ReceivedAt()

// normalize runs a delivery the way the receiver does; see payloadtest.Normalize.
func normalize(t *testing.T, p *gitea.Parser, header http.Header, body []byte) []byte {
	t.Helper()
	return payloadtest.Normalize(t, p, header, body, [][]byte{testSecret})
}

// TestGolden normalizes every Gitea payload and compares the result with its golden file.
// Refresh the golden files with: go test ./webhooks/gitea -update
func TestGolden(t *testing.T) {
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			got := normalize(t, gitea.New(), p.header, p.body)
			goldenPath := filepath.Join("testdata", "golden", filepath.FromSlash(p.name))
			golden.Check(t, goldenPath, got, *update)
		})
	}
}

// TestForgejo proves that Forgejo's deliveries, with their own headers, normalize to the Gitea
// golden events but for the provider; Forgejo sends Gitea's body format.
func TestForgejo(t *testing.T) {
	for _, p := range loadPayloads(t) {
		t.Run(p.name, func(t *testing.T) {
			h := forgejoHeader(eventTypeOf(p.name), p.header.Get(gitea.HeaderDelivery))
			h.Set(gitea.HeaderForgejoSignature, gitea.Sign(testSecret, p.body))
			// Forgejo's own headers must win: spoil the Gitea ones it also sends.
			h.Set(gitea.HeaderSignature, strings.Repeat("0", 64))
			h.Set(gitea.HeaderEvent, "star")
			h.Set(gitea.HeaderDelivery, "not-this-one")
			var fromGitea, fromForgejo map[string]any
			if err := json.Unmarshal(normalize(t, gitea.New(), p.header, p.body), &fromGitea); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(normalize(t, gitea.NewForgejo(), h, p.body), &fromForgejo); err != nil {
				t.Fatal(err)
			}
			if _, ignored := fromGitea["ignored"]; !ignored {
				if fromGitea["provider"] != "gitea" || fromForgejo["provider"] != "forgejo" {
					t.Errorf("providers = %v and %v, want gitea and forgejo", fromGitea["provider"], fromForgejo["provider"])
				}
				fromForgejo["provider"] = fromGitea["provider"]
			}
			if a, b := golden.JSON(t, fromGitea), golden.JSON(t, fromForgejo); !bytes.Equal(a, b) {
				t.Errorf("Forgejo delivery normalizes differently:\n%s\nvs Gitea:\n%s", b, a)
			}
		})
	}
}

// TestForgejoFallsBackToGiteaHeaders covers a Forgejo delivery that carries only the Gitea headers
// (or only the finer X-Forgejo-Event-Type).
func TestForgejoFallsBackToGiteaHeaders(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(payloadDir, "thirdparty/push.drone-go-scm.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header http.Header
	}{
		{name: "gitea headers only", header: giteaHeader("push", "d1")},
		{name: "event type only", header: func() http.Header {
			h := giteaHeader("", "")
			h.Set(gitea.HeaderForgejoEventType, "push")
			h.Set(gitea.HeaderForgejoDelivery, "d1")
			return h
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.header.Set(gitea.HeaderSignature, gitea.Sign(testSecret, body))
			p := gitea.NewForgejo()
			if err := p.Verify(tt.header, body, [][]byte{testSecret}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			ev, err := parseOne(t, p, tt.header, body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ev.Provider != event.Forgejo || ev.Kind != event.Push || ev.DeliveryID != "d1" {
				t.Errorf("got provider %s kind %s delivery %q, want a forgejo push d1", ev.Provider, ev.Kind, ev.DeliveryID)
			}
		})
	}
}

// TestKinds pins the kind each payload must normalize to, independently of the golden files.
func TestKinds(t *testing.T) {
	want := map[string]string{
		"thirdparty/push.drone-go-scm.json":                      "push",
		"thirdparty/create.branch.drone-go-scm.json":             "ignored", // no sha: old Gitea
		"thirdparty/create.tag.drone-go-scm.json":                "tag",
		"thirdparty/issue_comment.on-pr.drone-go-scm.json":       "pr-comment",
		"thirdparty/pull_request.opened.drone-go-scm.json":       "pr-opened",
		"thirdparty/pull_request.synchronized.drone-go-scm.json": "pr-updated",
		"thirdparty/pull_request.closed.drone-go-scm.json":       "pr-closed",
		"thirdparty/pull_request.merged.drone-go-scm.json":       "pr-merged",
		"thirdparty/pull_request.reopened.drone-go-scm.json":     "pr-reopened",
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
			if err := json.Unmarshal(normalize(t, gitea.New(), p.header, p.body), &got); err != nil {
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
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := gitea.Sign(testSecret, body)
	tests := []struct {
		name      string
		forgejo   bool
		signature string // "" sends no header
		header    string // the header carrying signature; X-Gitea-Signature when ""
		body      []byte
		secrets   [][]byte
		want      error
	}{
		{name: "good", signature: good, body: body, secrets: [][]byte{testSecret}},
		{name: "second of two secrets", signature: good, body: body, secrets: [][]byte{[]byte("new"), testSecret}},
		{name: "empty secret skipped", signature: good, body: body, secrets: [][]byte{nil, testSecret}},
		{name: "upper-case hex", signature: strings.ToUpper(good), body: body, secrets: [][]byte{testSecret}},
		{name: "missing", body: body, secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
		{name: "wrong secret", signature: good, body: body, secrets: [][]byte{[]byte("other")}, want: event.ErrBadSignature},
		{name: "no secrets", signature: good, body: body, want: event.ErrBadSignature},
		{name: "only an empty secret", signature: gitea.Sign(nil, body), body: body, secrets: [][]byte{{}}, want: event.ErrBadSignature},
		{name: "body changed", signature: good, body: append([]byte(" "), body...), secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "sha256= prefix", signature: "sha256=" + good, body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "not hex", signature: "zz", body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "truncated", signature: good[:len(good)-2], body: body, secrets: [][]byte{testSecret}, want: event.ErrBadSignature},
		{name: "forgejo header ignored by gitea", signature: good, header: gitea.HeaderForgejoSignature, body: body, secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
		{name: "forgejo header", forgejo: true, signature: good, header: gitea.HeaderForgejoSignature, body: body, secrets: [][]byte{testSecret}},
		{name: "forgejo falls back to gitea header", forgejo: true, signature: good, body: body, secrets: [][]byte{testSecret}},
		{name: "forgejo missing", forgejo: true, body: body, secrets: [][]byte{testSecret}, want: event.ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := giteaHeader("push", "d1")
			name := tt.header
			if name == "" {
				name = gitea.HeaderSignature
			}
			if tt.signature != "" {
				h.Set(name, tt.signature)
			}
			p := gitea.New()
			if tt.forgejo {
				p = gitea.NewForgejo()
			}
			err := p.Verify(h, tt.body, tt.secrets)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(strings.ToLower(err.Error()), good) {
				t.Errorf("error %q leaks the signature", err)
			}
		})
	}
}
