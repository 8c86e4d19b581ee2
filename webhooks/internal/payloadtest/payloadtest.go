// Package payloadtest loads the real provider payloads under testdata/webhooks for the provider
// packages' tests: every body, with the headers recorded beside it when a capture kept them.
package payloadtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slipway.dev/slipway/internal/golden"
	"slipway.dev/slipway/webhooks/event"
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

// Parser is the part of webhooks.Parser that Normalize runs.
type Parser interface {
	Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error)
	Verify(header http.Header, body []byte, secrets [][]byte) error
	Parse(header http.Header, body []byte) ([]event.Event, error)
}

// ReceivedAt is the fixed receive time stamped on golden events.
func ReceivedAt() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// Normalize runs a delivery the way the receiver does (identify, verify, parse, stamp, validate)
// and returns the JSON the golden files hold: the Event (an array of Events when the delivery
// reports several), {"ignored": reason} or {"malformed": reason}. It checks that Identify and
// Parse agree on the delivery id and repository.
func Normalize(t testing.TB, p Parser, header http.Header, body []byte, secrets [][]byte) []byte {
	t.Helper()
	id, repo, err := p.Identify(header, body)
	if ig, ok := errors.AsType[*event.IgnoredError](err); ok {
		// Event types that are never used are ignored on the headers, before any secret lookup.
		return golden.JSON(t, map[string]string{"ignored": ig.Reason})
	}
	if err != nil {
		t.Fatalf("Identify: %v", err)
	}
	if err := p.Verify(header, body, secrets); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	evs, err := p.Parse(header, body)
	if ig, ok := errors.AsType[*event.IgnoredError](err); ok {
		return golden.JSON(t, map[string]string{"ignored": ig.Reason})
	}
	if errors.Is(err, event.ErrMalformed) {
		return golden.JSON(t, map[string]string{"malformed": err.Error()})
	}
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(evs) == 0 {
		t.Fatal("Parse returned no event and no error")
	}
	keys := map[string]bool{}
	for i := range evs {
		ev := &evs[i]
		if id != "" && ev.DeliveryID != id {
			t.Errorf("Parse delivery id %q differs from Identify's %q", ev.DeliveryID, id)
		}
		if ev.Repo() != repo {
			t.Errorf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
		}
		if keys[ev.Key()] {
			t.Errorf("two events of one delivery share the key %q", ev.Key())
		}
		keys[ev.Key()] = true
		ev.ReceivedAt = ReceivedAt()
		ev.BodySHA256 = event.BodyDigest(body)
		if err := ev.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	}
	if len(evs) == 1 {
		return golden.JSON(t, evs[0])
	}
	return golden.JSON(t, evs)
}

// ParseOne runs p.Parse and returns its one event, failing the test if it returns several: for
// the providers whose deliveries report one event each.
func ParseOne(t testing.TB, p Parser, header http.Header, body []byte) (event.Event, error) {
	t.Helper()
	evs, err := p.Parse(header, body)
	if err != nil {
		return event.Event{}, err
	}
	if len(evs) != 1 {
		t.Fatalf("Parse returned %d events, want 1", len(evs))
	}
	return evs[0], nil
}
