package gitlab_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/gitlab"
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
	err := filepath.WalkDir(payloadDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".headers.json") {
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
		headersFile := strings.TrimSuffix(path, ".body.json") + ".headers.json"
		if strings.HasSuffix(path, ".body.json") && exists(headersFile) {
			p.header = readCapturedHeaders(t, headersFile)
			p.secret = capturedSecret
			p.captured = true
		} else {
			p.header = jsonHeader(eventTypeOf(rel))
			p.header.Set(gitlab.HeaderEventUUID, "golden-"+strings.NewReplacer("/", "-", ".json", "").Replace(p.name))
			p.header.Set(gitlab.HeaderToken, string(testSecret))
			p.secret = testSecret
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatalf("load payloads: %v", err)
	}
	if len(out) < 26 {
		t.Fatalf("found %d payloads in %s, want all of them", len(out), payloadDir)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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

func readCapturedHeaders(t testing.TB, path string) http.Header {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var capture struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	h := http.Header{}
	for k, v := range capture.Headers {
		h.Set(k, v) // canonicalizes the recorded lower-case names
	}
	return h
}

// readPayload returns one payload file decoded as a generic document, for tests that change it.
func readPayload(t testing.TB, name string) map[string]any {
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

func encode(t testing.TB, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edited returns payload file name with edit applied to its decoded document.
func edited(t testing.TB, name string, edit func(doc map[string]any)) []byte {
	t.Helper()
	doc := readPayload(t, name)
	edit(doc)
	return encode(t, doc)
}

// attrs returns the object_attributes of a decoded payload.
func attrs(doc map[string]any) map[string]any { return doc["object_attributes"].(map[string]any) }
