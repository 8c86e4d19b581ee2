package gitlab_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/gitlab"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

// payloadDir holds the real GitLab payloads, shared with the receiver's tests.
const payloadDir = "../../testdata/webhooks/gitlab"

// testSecret is the token sent with the payloads that were not captured with their headers.
var testSecret = []byte("slipway-test-secret")

// capturedSecret is the token of the delivery under captured/; the capture's fixtures publish it.
var capturedSecret = []byte("402786017574bd28f9d8f7a18648939751c47fe09077d56e10f0444f14fbb73b")

// payload is one real delivery: its body and the headers GitLab sent, or would have sent.
type payload struct {
	name     string // path under payloadDir
	body     []byte
	header   http.Header
	secret   []byte
	captured bool
}

// loadPayloads returns every GitLab payload file. The captured delivery keeps its recorded headers
// (and so its real token and ids); the others get the headers GitLab sends, with testSecret as
// the token and an X-Gitlab-Event-UUID named after the file.
func loadPayloads(t testing.TB) []payload {
	t.Helper()
	var out []payload
	for _, f := range payloadtest.Load(t, payloadDir, 26) {
		p := payload{name: f.Name, body: f.Body, header: f.Recorded, secret: capturedSecret, captured: f.Recorded != nil}
		if !p.captured {
			p.header = jsonHeader(eventTypeOf(f.Name))
			p.header.Set(gitlab.HeaderEventUUID, payloadtest.DeliveryID(f.Name))
			p.header.Set(gitlab.HeaderToken, string(testSecret))
			p.secret = testSecret
		}
		out = append(out, p)
	}
	return out
}

// eventTypes maps a payload file's name, <object_kind>.<variant>.json, to its X-Gitlab-Event.
var eventTypes = map[string]string{
	"push":          "Push Hook",
	"tag_push":      "Tag Push Hook",
	"merge_request": "Merge Request Hook",
	"note":          "Note Hook",
}

func eventTypeOf(rel string) string {
	kind, _, _ := strings.Cut(filepath.Base(rel), ".")
	return eventTypes[kind]
}

// jsonHeader returns the headers of a delivery of eventType without ids or token.
func jsonHeader(eventType string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(gitlab.HeaderEvent, eventType)
	return h
}

// signedHeader returns the headers of a delivery of eventType with an event id and testSecret.
func signedHeader(eventType string) http.Header {
	h := jsonHeader(eventType)
	h.Set(gitlab.HeaderEventUUID, "d")
	h.Set(gitlab.HeaderToken, string(testSecret))
	return h
}

// readPayload returns one payload file decoded as a generic document, for tests that change it.
func readPayload(t testing.TB, name string) map[string]any {
	return payloadtest.Doc(t, payloadDir, name)
}

func encode(t testing.TB, doc map[string]any) []byte { return payloadtest.Encode(t, doc) }

// edited returns payload file name with edit applied to its decoded document.
func edited(t testing.TB, name string, edit func(doc map[string]any)) []byte {
	t.Helper()
	doc := readPayload(t, name)
	edit(doc)
	return encode(t, doc)
}

// attrs returns the object_attributes of a decoded payload.
func attrs(doc map[string]any) map[string]any { return doc["object_attributes"].(map[string]any) }
