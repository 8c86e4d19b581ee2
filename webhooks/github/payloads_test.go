package github_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

// payloadDir holds the real GitHub payloads, shared with the receiver's tests.
const payloadDir = "../../testdata/webhooks/github"

// testSecret signs the payloads that were not captured with their headers.
var testSecret = []byte("slipway-test-secret")

// capturedSecret signed the deliveries under captured/; the capture's fixtures publish it.
var capturedSecret = []byte("402786017574bd28f9d8f7a18648939751c47fe09077d56e10f0444f14fbb73b")

// payload is one real delivery: its body and the headers GitHub sent, or would have sent.
type payload struct {
	name     string // path under payloadDir
	body     []byte
	header   http.Header
	secret   []byte
	captured bool
}

// loadPayloads returns every GitHub payload file. Captured deliveries keep their recorded headers
// (and so their real signatures); the others get the headers GitHub sends, signed with testSecret.
func loadPayloads(t testing.TB) []payload {
	t.Helper()
	var out []payload
	for _, f := range payloadtest.Load(t, payloadDir, 19) {
		p := payload{name: f.Name, body: f.Body, header: f.Recorded, secret: capturedSecret, captured: f.Recorded != nil}
		if !p.captured {
			p.header = jsonHeader(eventTypeOf(f.Name), payloadtest.DeliveryID(f.Name))
			p.header.Set(github.HeaderSignature, github.Sign(testSecret, f.Body))
			p.secret = testSecret
		}
		out = append(out, p)
	}
	return out
}

// eventTypeOf reads the X-GitHub-Event from a payload file's name, <event>.<variant>.json.
func eventTypeOf(rel string) string {
	typ, _, _ := strings.Cut(filepath.Base(rel), ".")
	return typ
}

func jsonHeader(eventType, delivery string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(github.HeaderEvent, eventType)
	h.Set(github.HeaderDelivery, delivery)
	return h
}

// formEncoded returns p as GitHub sends it to a hook configured for
// application/x-www-form-urlencoded, signed over the form body.
func formEncoded(p payload) (http.Header, []byte) {
	body := []byte("payload=" + url.QueryEscape(string(p.body)))
	h := p.header.Clone()
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set(github.HeaderSignature, github.Sign(p.secret, body))
	return h, body
}
