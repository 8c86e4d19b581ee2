package github_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

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

func TestParseErrors(t *testing.T) {
	push, err := os.ReadFile(filepath.Join(payloadDir, "thirdparty/push.branch-update.drone-go-scm.json"))
	if err != nil {
		t.Fatal(err)
	}
	with := func(name string, edit func(map[string]any)) []byte {
		doc := readPayload(t, name)
		edit(doc)
		return encode(t, doc)
	}
	pr := func(edit func(pr map[string]any)) func(map[string]any) {
		return func(doc map[string]any) { edit(doc["pull_request"].(map[string]any)) }
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{name: "malformed JSON", header: jsonHeader("push", "d"), body: []byte(`{"ref":`), want: event.ErrMalformed},
		{name: "JSON array", header: jsonHeader("push", "d"), body: []byte(`[]`), want: event.ErrMalformed},
		{name: "no event header", header: jsonHeader("", "d"), body: push, want: event.ErrMalformed},
		{name: "no delivery header", header: jsonHeader("push", ""), body: push, want: event.ErrMalformed},
		{name: "unused event type", header: jsonHeader("star", "d"), body: push, want: event.ErrIgnored},
		{name: "text/plain", header: withHeader(jsonHeader("push", "d"), "Content-Type", "text/plain"), body: push, want: event.ErrContentType},
		{name: "no content type", header: withHeader(jsonHeader("push", "d"), "Content-Type", ""), body: push, want: event.ErrContentType},
		{name: "gzip", header: withHeader(jsonHeader("push", "d"), "Content-Encoding", "gzip"), body: push, want: event.ErrContentType},
		{name: "form without payload", header: withHeader(jsonHeader("push", "d"), "Content-Type", "application/x-www-form-urlencoded"), body: []byte("other=1"), want: event.ErrMalformed},
		{name: "form with two payloads", header: withHeader(jsonHeader("push", "d"), "Content-Type", "application/x-www-form-urlencoded"), body: []byte("payload=%7B%7D&payload=%7B%7D"), want: event.ErrMalformed},
		{name: "push without repository", header: jsonHeader("push", "d"), body: with("thirdparty/push.branch-update.drone-go-scm.json", func(d map[string]any) { delete(d, "repository") }), want: event.ErrMalformed},
		{name: "push without ref", header: jsonHeader("push", "d"), body: with("thirdparty/push.branch-update.drone-go-scm.json", func(d map[string]any) { delete(d, "ref") }), want: event.ErrMalformed},
		{name: "push to a note ref", header: jsonHeader("push", "d"), body: with("thirdparty/push.branch-update.drone-go-scm.json", func(d map[string]any) { d["ref"] = "refs/notes/commits" }), want: event.ErrIgnored},
		{name: "pull request labeled", header: jsonHeader("pull_request", "d"), body: with("pull_request.opened.json", func(d map[string]any) { d["action"] = "labeled" }), want: event.ErrIgnored},
		{name: "pull request without pull_request", header: jsonHeader("pull_request", "d"), body: with("pull_request.opened.json", func(d map[string]any) { delete(d, "pull_request") }), want: event.ErrMalformed},
		{name: "pull request head sha not a string", header: jsonHeader("pull_request", "d"), body: with("pull_request.opened.json", pr(func(p map[string]any) { p["head"].(map[string]any)["sha"] = 1 })), want: event.ErrMalformed},
		{name: "comment edited", header: jsonHeader("issue_comment", "d"), body: with("thirdparty/issue_comment.created-on-pr.atlantis.json", func(d map[string]any) { d["action"] = "edited" }), want: event.ErrIgnored},
		{name: "comment without comment", header: jsonHeader("issue_comment", "d"), body: with("thirdparty/issue_comment.created-on-pr.atlantis.json", func(d map[string]any) { delete(d, "comment") }), want: event.ErrMalformed},
		{name: "ping without repository or organization", header: jsonHeader("ping", "d"), body: []byte(`{"zen":"z"}`), want: event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payloadtest.ParseOne(t, github.New(), tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func withHeader(h http.Header, key, value string) http.Header {
	if value == "" {
		h.Del(key)
	} else {
		h.Set(key, value)
	}
	return h
}

func TestFork(t *testing.T) {
	tests := []struct {
		name string
		edit func(head, base map[string]any)
		want bool
	}{
		{name: "same repository", edit: func(head, base map[string]any) {}, want: false},
		{name: "other repository", edit: func(head, base map[string]any) {
			head["repo"].(map[string]any)["id"] = 99
			head["repo"].(map[string]any)["full_name"] = "mallory/Hello-World"
		}, want: true},
		{name: "head repository deleted", edit: func(head, base map[string]any) { head["repo"] = nil }, want: true},
		{name: "ids missing, names differ only in case", edit: func(head, base map[string]any) {
			delete(head["repo"].(map[string]any), "id")
			head["repo"].(map[string]any)["full_name"] = "codertocat/hello-world"
		}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := readPayload(t, "pull_request.opened.json")
			p := doc["pull_request"].(map[string]any)
			tt.edit(p["head"].(map[string]any), p["base"].(map[string]any))
			ev, err := payloadtest.ParseOne(t, github.New(), jsonHeader("pull_request", "d"), encode(t, doc))
			if err != nil {
				t.Fatal(err)
			}
			if ev.PullRequest.Fork != tt.want {
				t.Errorf("Fork = %v, want %v", ev.PullRequest.Fork, tt.want)
			}
		})
	}
}

func TestBranchDeleteAndLongComment(t *testing.T) {
	doc := readPayload(t, "thirdparty/push.branch-update.drone-go-scm.json")
	doc["after"] = event.ZeroSHA
	doc["deleted"] = true
	ev, err := payloadtest.ParseOne(t, github.New(), jsonHeader("push", "d"), encode(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.BranchDelete || ev.Branch() != "master" || ev.Revision() != "" {
		t.Errorf("got kind %s branch %q revision %q, want branch-delete of master with no revision", ev.Kind, ev.Branch(), ev.Revision())
	}

	doc = readPayload(t, "thirdparty/issue_comment.created-on-pr.atlantis.json")
	long := make([]rune, event.MaxCommentRunes+10)
	for i := range long {
		long[i] = 'é'
	}
	doc["comment"].(map[string]any)["body"] = string(long)
	ev, err = payloadtest.ParseOne(t, github.New(), jsonHeader("issue_comment", "d"), encode(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(ev.Comment)); n != event.MaxCommentRunes {
		t.Errorf("comment has %d runes, want it cut to %d", n, event.MaxCommentRunes)
	}
}

// FuzzParse feeds arbitrary bodies and event types to the parser. The seed corpus is every real
// payload, so plain go test runs them all. Properties: no panic; a parsed event is GitHub's, of a
// known kind, and about the repository Identify reported (the one whose secrets verified it).
func FuzzParse(f *testing.F) {
	for _, p := range loadPayloads(f) {
		f.Add(eventTypeOf(p.name), false, p.body)
		_, form := formEncoded(p)
		f.Add(eventTypeOf(p.name), true, form)
	}
	f.Fuzz(func(t *testing.T, eventType string, form bool, body []byte) {
		h := jsonHeader(eventType, "fuzz-delivery")
		if form {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		p := github.New()
		_, repo, idErr := p.Identify(h, body)
		_ = p.Verify(h, body, [][]byte{testSecret})
		ev, err := payloadtest.ParseOne(t, p, h, body)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) && !errors.Is(err, event.ErrIgnored) && !errors.Is(err, event.ErrContentType) {
				t.Fatalf("Parse error %v wraps none of the parser sentinels", err)
			}
			return
		}
		if idErr != nil {
			t.Fatalf("Parse succeeded where Identify failed: %v", idErr)
		}
		if ev.Provider != event.GitHub || !ev.Kind.Valid() || ev.DeliveryID != "fuzz-delivery" {
			t.Fatalf("Parse returned provider %q kind %q delivery %q", ev.Provider, ev.Kind, ev.DeliveryID)
		}
		if ev.Repo() != repo {
			t.Fatalf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
		}
	})
}
