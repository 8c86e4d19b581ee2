// Package payloadtest loads the real provider payloads under testdata/webhooks for the provider
// packages' tests: every body, with the headers recorded beside it when a capture kept them.
package payloadtest

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// File is one payload file.
type File struct {
	// Name is the file's slash-separated path under the provider's directory.
	Name string
	Body []byte
	// Recorded holds the headers captured with the body (<name>.headers.json beside
	// <name>.body.json); nil when the capture kept none.
	Recorded http.Header
}

// Load returns every payload file under dir, sorted by name, and fails the test if there are
// fewer than min: a payload lost from testdata would otherwise go unnoticed.
func Load(t testing.TB, dir string, min int) []File {
	t.Helper()
	var out []File
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".headers.json") {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f := File{Name: filepath.ToSlash(rel), Body: body}
		headers := strings.TrimSuffix(path, ".body.json") + ".headers.json"
		if _, err := os.Stat(headers); strings.HasSuffix(path, ".body.json") && err == nil {
			f.Recorded = readHeaders(t, headers)
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		t.Fatalf("load payloads: %v", err)
	}
	if len(out) < min {
		t.Fatalf("found %d payloads in %s, want all %d", len(out), dir, min)
	}
	return out
}

// DeliveryID returns a stable delivery id named after a payload file, for headers the test makes.
func DeliveryID(name string) string {
	return "golden-" + strings.NewReplacer("/", "-", ".json", "").Replace(name)
}

// Doc returns the payload file dir/name decoded as a generic document, for tests that change it.
func Doc(t testing.TB, dir, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// Encode returns doc as JSON.
func Encode(t testing.TB, doc map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readHeaders(t testing.TB, path string) http.Header {
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
