package bitbucket_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/bitbucket"
)

// payloadDir holds the real Bitbucket Cloud payloads, shared with the receiver's tests.
const payloadDir = "../../testdata/webhooks/bitbucket"

// testSecret signs every payload: the captured bodies were recorded without their headers.
var testSecret = []byte("slipway-test-secret")

// payload is one real delivery body and the headers Bitbucket would have sent with it.
type payload struct {
	name   string // path under payloadDir
	body   []byte
	header http.Header
}

// loadPayloads returns every Bitbucket payload file with the headers Bitbucket sends, signed with
// testSecret.
func loadPayloads(t testing.TB) []payload {
	t.Helper()
	var out []payload
	err := filepath.WalkDir(payloadDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, err := filepath.Rel(payloadDir, path)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		p := payload{name: filepath.ToSlash(rel), body: body}
		p.header = bbHeader(eventKeyOf(rel), "golden-"+strings.NewReplacer("/", "-", ".json", "").Replace(p.name))
		p.header.Set(bitbucket.HeaderSignature, bitbucket.Sign(testSecret, body))
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatalf("load payloads: %v", err)
	}
	if len(out) < 20 {
		t.Fatalf("found %d payloads in %s, want all of them", len(out), payloadDir)
	}
	return out
}

// eventKeyOf reads the X-Event-Key from a payload file's name, <category>_<action>.<variant>.json:
// repo_push is repo:push, pullrequest_comment_created is pullrequest:comment_created.
func eventKeyOf(rel string) string {
	name, _, _ := strings.Cut(filepath.Base(rel), ".")
	return strings.Replace(name, "_", ":", 1)
}

// bbHeader returns the headers Bitbucket Cloud sends; "" leaves a header out.
func bbHeader(eventKey, requestID string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Bitbucket-Webhooks/2.0")
	if eventKey != "" {
		h.Set(bitbucket.HeaderEvent, eventKey)
	}
	if requestID != "" {
		h.Set(bitbucket.HeaderRequest, requestID)
	}
	return h
}

// readPayload returns one payload file decoded as a generic document, for tests that change it.
func readPayload(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(payloadDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func encode(t *testing.T, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
