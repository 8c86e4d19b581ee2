package gitea_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/gitea"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

// payloadDir holds the real Gitea payloads, shared with the receiver's tests.
const payloadDir = "../../testdata/webhooks/gitea"

// testSecret signs every payload: none was captured with its headers.
var testSecret = []byte("slipway-test-secret")

// payload is one real delivery body and the headers Gitea would have sent with it.
type payload struct {
	name   string // path under payloadDir
	body   []byte
	header http.Header
}

// loadPayloads returns every Gitea payload file with the headers Gitea sends, signed with
// testSecret.
func loadPayloads(t testing.TB) []payload {
	t.Helper()
	var out []payload
	for _, f := range payloadtest.Load(t, payloadDir, 9) {
		p := payload{name: f.Name, body: f.Body, header: giteaHeader(eventTypeOf(f.Name), payloadtest.DeliveryID(f.Name))}
		p.header.Set(gitea.HeaderSignature, gitea.Sign(testSecret, f.Body))
		out = append(out, p)
	}
	return out
}

// eventTypeOf reads the X-Gitea-Event from a payload file's name, <event>.<variant>.json.
func eventTypeOf(rel string) string {
	typ, _, _ := strings.Cut(filepath.Base(rel), ".")
	return typ
}

// giteaHeader returns the headers Gitea sends; "" leaves a header out.
func giteaHeader(eventType, delivery string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if eventType != "" {
		h.Set(gitea.HeaderEvent, eventType)
	}
	if delivery != "" {
		h.Set(gitea.HeaderDelivery, delivery)
	}
	return h
}

// forgejoHeader returns the headers Forgejo sends: its own and Gitea's, with the same values.
func forgejoHeader(eventType, delivery string) http.Header {
	h := giteaHeader(eventType, delivery)
	h.Set(gitea.HeaderForgejoEvent, eventType)
	h.Set(gitea.HeaderForgejoDelivery, delivery)
	return h
}

// readPayload returns one payload file decoded as a generic document, for tests that change it.
func readPayload(t *testing.T, name string) map[string]any {
	return payloadtest.Doc(t, payloadDir, name)
}

func encode(t *testing.T, doc map[string]any) []byte { return payloadtest.Encode(t, doc) }
