package gitea_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/gitea"
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
		p.header = giteaHeader(eventTypeOf(rel), "golden-"+strings.NewReplacer("/", "-", ".json", "").Replace(p.name))
		p.header.Set(gitea.HeaderSignature, gitea.Sign(testSecret, body))
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatalf("load payloads: %v", err)
	}
	if len(out) < 9 {
		t.Fatalf("found %d payloads in %s, want all of them", len(out), payloadDir)
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
