package bitbucket_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
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
	for _, f := range payloadtest.Load(t, payloadDir, 20) {
		p := payload{name: f.Name, body: f.Body, header: bbHeader(eventKeyOf(f.Name), payloadtest.DeliveryID(f.Name))}
		p.header.Set(bitbucket.HeaderSignature, bitbucket.Sign(testSecret, f.Body))
		out = append(out, p)
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
	return payloadtest.Doc(t, payloadDir, name)
}

func encode(t *testing.T, doc map[string]any) []byte { return payloadtest.Encode(t, doc) }
