package github_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/github"
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
			p.header = jsonHeader(eventTypeOf(rel), "golden-"+strings.NewReplacer("/", "-", ".json", "").Replace(p.name))
			p.header.Set(github.HeaderSignature, github.Sign(testSecret, body))
			p.secret = testSecret
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatalf("load payloads: %v", err)
	}
	if len(out) < 19 {
		t.Fatalf("found %d payloads in %s, want all of them", len(out), payloadDir)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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

// formEncoded returns p as GitHub sends it to a hook configured for
// application/x-www-form-urlencoded, signed over the form body.
func formEncoded(p payload) (http.Header, []byte) {
	body := []byte("payload=" + url.QueryEscape(string(p.body)))
	h := p.header.Clone()
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set(github.HeaderSignature, github.Sign(p.secret, body))
	return h, body
}
