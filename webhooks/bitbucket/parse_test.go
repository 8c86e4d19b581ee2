package bitbucket_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/event"
)

const (
	pushFile    = "captured/repo_push.branch-update.body.json"
	prFile      = "thirdparty/pullrequest_created.atlantis.json"
	commentFile = "thirdparty/pullrequest_comment_created.drone-go-scm.json"
)

// parse runs an edited payload file through Parse.
func parse(t *testing.T, key, name string, edit func(map[string]any)) (event.Event, error) {
	t.Helper()
	doc := readPayload(t, name)
	edit(doc)
	return bitbucket.New().Parse(bbHeader(key, "d"), encode(t, doc))
}

func TestEventKeys(t *testing.T) {
	tests := []struct {
		key  string
		file string
		want event.Kind // "" means ignored
	}{
		{key: "repo:push", file: pushFile, want: event.Push},
		{key: "pullrequest:created", file: prFile, want: event.PROpened},
		{key: "pullrequest:updated", file: prFile, want: event.PRUpdated},
		{key: "pullrequest:fulfilled", file: prFile, want: event.PRMerged},
		{key: "pullrequest:rejected", file: prFile, want: event.PRClosed},
		{key: "pullrequest:comment_created", file: commentFile, want: event.PRComment},
		{key: "pullrequest:approved", file: prFile},
		{key: "pullrequest:unapproved", file: prFile},
		{key: "pullrequest:changes_request_created", file: prFile},
		{key: "pullrequest:comment_updated", file: commentFile},
		{key: "pullrequest:comment_deleted", file: commentFile},
		{key: "repo:fork", file: pushFile},
		{key: "repo:refs_changed", file: pushFile}, // Bitbucket Server's push, not Cloud's
		{key: "pr:opened", file: prFile},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			ev, err := parse(t, tt.key, tt.file, func(map[string]any) {})
			if tt.want == "" {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Parse = %v, %v; want ignored", ev.Kind, err)
				}
				return
			}
			if err != nil || ev.Kind != tt.want {
				t.Fatalf("Parse = %v, %v; want %s", ev.Kind, err, tt.want)
			}
		})
	}
}

// change returns a push change of a ref of type typ from old to new ("" for null).
func change(typ, name, old, new string) map[string]any {
	state := func(hash string) any {
		if hash == "" {
			return nil
		}
		return map[string]any{"type": typ, "name": name, "target": map[string]any{"hash": hash}}
	}
	return map[string]any{"old": state(old), "new": state(new)}
}

func TestPushChanges(t *testing.T) {
	const a, b = "49cb0fd6590af14dbfb717d0e801f325362af5d9", "6ca0691239785a619fa1dce7bf1073f50499cd60"
	tests := []struct {
		name    string
		changes []any
		kind    event.Kind // "" means ignored
		ref     string
		before  string
		after   string
	}{
		{name: "branch update", changes: []any{change("branch", "main", a, b)}, kind: event.Push, ref: "refs/heads/main", before: a, after: b},
		{name: "branch create", changes: []any{change("branch", "dev", "", b)}, kind: event.BranchCreate, ref: "refs/heads/dev", after: b},
		{name: "branch delete", changes: []any{change("branch", "dev", a, "")}, kind: event.BranchDelete, ref: "refs/heads/dev", before: a, after: event.ZeroSHA},
		{name: "tag create", changes: []any{change("tag", "v1", "", b)}, kind: event.Tag, ref: "refs/tags/v1", after: b},
		{name: "tag moved", changes: []any{change("tag", "v1", a, b)}, kind: event.Tag, ref: "refs/tags/v1", before: a, after: b},
		{name: "tag delete", changes: []any{change("tag", "v1", a, "")}},
		{name: "first of several changes", changes: []any{change("branch", "one", a, b), change("branch", "two", "", a)}, kind: event.Push, ref: "refs/heads/one", before: a, after: b},
		{name: "first branch or tag change", changes: []any{change("bookmark", "hg", a, b), change("tag", "v2", "", a)}, kind: event.Tag, ref: "refs/tags/v2", after: a},
		{name: "no branch or tag change", changes: []any{change("named_branch", "hg", a, b)}},
		{name: "no changes", changes: []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parse(t, "repo:push", pushFile, func(d map[string]any) {
				d["push"] = map[string]any{"changes": tt.changes}
			})
			if tt.kind == "" {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Parse = %v, %v; want ignored", ev.Kind, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ev.Kind != tt.kind || ev.Ref != tt.ref || ev.Before != tt.before || ev.After != tt.after {
				t.Errorf("got %s %s %q..%q, want %s %s %q..%q", ev.Kind, ev.Ref, ev.Before, ev.After, tt.kind, tt.ref, tt.before, tt.after)
			}
		})
	}
}

// TestDeliveryID covers the delivery id when X-Request-UUID is missing: it must be the same for a
// delivery sent twice, so that the Sink records it once, and differ between different events.
func TestDeliveryID(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(payloadDir, pushFile))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(payloadDir, "thirdparty/repo_push.drone-go-scm.json"))
	if err != nil {
		t.Fatal(err)
	}
	id := func(h http.Header, body []byte) string {
		t.Helper()
		ev, err := bitbucket.New().Parse(h, body)
		if err != nil {
			t.Fatal(err)
		}
		ev.ReceivedAt, ev.BodySHA256 = receivedAt, event.BodyDigest(body)
		if err := ev.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
		return ev.DeliveryID
	}
	withHook := func(hook string) http.Header {
		h := bbHeader("repo:push", "")
		h.Set(bitbucket.HeaderHook, hook)
		return h
	}
	const hook = "{4a1e1d5c-1d7e-4e4b-9d5e-6c1f0e2b3a4d}"

	if got := id(bbHeader("repo:push", "req-1"), body); got != "req-1" {
		t.Errorf("with X-Request-UUID, id = %q", got)
	}
	hookID := id(withHook(hook), body)
	if !strings.HasPrefix(hookID, "4a1e1d5c-1d7e-4e4b-9d5e-6c1f0e2b3a4d-") || hookID != id(withHook(hook), body) {
		t.Errorf("with X-Hook-UUID, id = %q, want the hook uuid and the body digest, stable", hookID)
	}
	if hookID == id(withHook(hook), other) {
		t.Errorf("different bodies of one hook share id %q", hookID)
	}
	if pid, _, _ := bitbucket.New().Identify(withHook(hook), body); pid != hookID {
		t.Errorf("Identify id = %q, want %q", pid, hookID)
	}

	derived := id(bbHeader("repo:push", ""), body)
	if !strings.HasPrefix(derived, "derived-") || derived != id(bbHeader("repo:push", ""), body) {
		t.Errorf("without headers, id = %q, want a stable derived id", derived)
	}
	if derived == id(bbHeader("repo:push", ""), other) {
		t.Errorf("different pushes share derived id %q", derived)
	}
	// Whitespace does not change the event, so it is the same delivery.
	if got := id(bbHeader("repo:push", ""), append(body, '\n')); got != derived {
		t.Errorf("re-serialized body has derived id %q, want %q", got, derived)
	}
	comment := func(id float64) []byte {
		doc := readPayload(t, commentFile)
		doc["comment"].(map[string]any)["id"] = id
		return encode(t, doc)
	}
	c1 := id(bbHeader("pullrequest:comment_created", ""), comment(1))
	if c1 == id(bbHeader("pullrequest:comment_created", ""), comment(2)) {
		t.Errorf("two comments on one pull request share derived id %q", c1)
	}
	pr, err := os.ReadFile(filepath.Join(payloadDir, prFile))
	if err != nil {
		t.Fatal(err)
	}
	if id(bbHeader("pullrequest:created", ""), pr) == id(bbHeader("pullrequest:fulfilled", ""), pr) {
		t.Errorf("different event keys share a derived id")
	}
}

func TestFork(t *testing.T) {
	tests := []struct {
		name string
		edit func(source, destination map[string]any)
		want bool
	}{
		{name: "same repository", edit: func(s, d map[string]any) { s["repository"] = d["repository"] }, want: false},
		{name: "other repository", edit: func(s, d map[string]any) {}, want: true}, // the fixture's source is lkysow-fork
		{name: "names differ only in case", edit: func(s, d map[string]any) {
			r := map[string]any{}
			for k, v := range d["repository"].(map[string]any) {
				r[k] = v
			}
			r["full_name"] = strings.ToUpper(r["full_name"].(string))
			s["repository"] = r
		}, want: false},
		{name: "same name, other uuid", edit: func(s, d map[string]any) {
			r := map[string]any{}
			for k, v := range d["repository"].(map[string]any) {
				r[k] = v
			}
			r["uuid"] = "{00000000-0000-0000-0000-000000000000}"
			s["repository"] = r
		}, want: true},
		{name: "source repository deleted", edit: func(s, d map[string]any) { s["repository"] = nil }, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parse(t, "pullrequest:created", prFile, func(doc map[string]any) {
				pr := doc["pullrequest"].(map[string]any)
				tt.edit(pr["source"].(map[string]any), pr["destination"].(map[string]any))
			})
			if err != nil {
				t.Fatal(err)
			}
			if ev.PullRequest.Fork != tt.want {
				t.Errorf("Fork = %v, want %v", ev.PullRequest.Fork, tt.want)
			}
		})
	}
}

func TestAuthor(t *testing.T) {
	tests := []struct {
		name string
		edit func(actor map[string]any)
		want string
	}{
		{name: "account id", edit: func(map[string]any) {}, want: "557058:dc3817de-68b5-45cd-b81c-5c39d2560090"},
		{name: "uuid", edit: func(a map[string]any) { delete(a, "account_id") }, want: "{bf34a99b-8a11-452c-8fbc-bdffc340e584}"},
		{name: "legacy username", edit: func(a map[string]any) {
			delete(a, "account_id")
			delete(a, "uuid")
			a["username"] = "lkysow"
		}, want: "lkysow"},
		{name: "nickname is not an identity", edit: func(a map[string]any) {
			delete(a, "account_id")
			delete(a, "uuid")
		}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parse(t, "pullrequest:created", prFile, func(d map[string]any) { tt.edit(d["actor"].(map[string]any)) })
			if err != nil {
				t.Fatal(err)
			}
			if ev.Author != tt.want {
				t.Errorf("Author = %q, want %q", ev.Author, tt.want)
			}
		})
	}
}

func TestLongComment(t *testing.T) {
	long := make([]rune, event.MaxCommentRunes+10)
	for i := range long {
		long[i] = 'é'
	}
	ev, err := parse(t, "pullrequest:comment_created", commentFile, func(d map[string]any) {
		d["comment"].(map[string]any)["content"].(map[string]any)["raw"] = string(long)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(ev.Comment)); n != event.MaxCommentRunes {
		t.Errorf("comment has %d runes, want it cut to %d", n, event.MaxCommentRunes)
	}
}

func TestParseErrors(t *testing.T) {
	push, err := os.ReadFile(filepath.Join(payloadDir, pushFile))
	if err != nil {
		t.Fatal(err)
	}
	with := func(name string, edit func(map[string]any)) []byte {
		doc := readPayload(t, name)
		edit(doc)
		return encode(t, doc)
	}
	withHeader := func(h http.Header, key, value string) http.Header {
		if value == "" {
			h.Del(key)
		} else {
			h.Set(key, value)
		}
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{name: "malformed JSON", header: bbHeader("repo:push", "d"), body: []byte(`{"push":`), want: event.ErrMalformed},
		{name: "JSON array", header: bbHeader("repo:push", "d"), body: []byte(`[]`), want: event.ErrMalformed},
		{name: "no event header", header: bbHeader("", "d"), body: push, want: event.ErrMalformed},
		{name: "form-encoded", header: withHeader(bbHeader("repo:push", "d"), "Content-Type", "application/x-www-form-urlencoded"), body: push, want: event.ErrContentType},
		{name: "no content type", header: withHeader(bbHeader("repo:push", "d"), "Content-Type", ""), body: push, want: event.ErrContentType},
		{name: "gzip", header: withHeader(bbHeader("repo:push", "d"), "Content-Encoding", "gzip"), body: push, want: event.ErrContentType},
		{name: "push without push", header: bbHeader("repo:push", "d"), body: with(pushFile, func(d map[string]any) { delete(d, "push") }), want: event.ErrMalformed},
		{name: "push without repository", header: bbHeader("repo:push", "d"), body: with(pushFile, func(d map[string]any) { delete(d, "repository") }), want: event.ErrMalformed},
		{name: "push without repository link", header: bbHeader("repo:push", "d"), body: with(pushFile, func(d map[string]any) { delete(d["repository"].(map[string]any), "links") }), want: event.ErrMalformed},
		{name: "push change without name", header: bbHeader("repo:push", "d"), body: with(pushFile, func(d map[string]any) {
			d["push"] = map[string]any{"changes": []any{change("branch", "", "", "6ca0691239785a619fa1dce7bf1073f50499cd60")}}
		}), want: event.ErrMalformed},
		{name: "pull request without pullrequest", header: bbHeader("pullrequest:created", "d"), body: with(prFile, func(d map[string]any) { delete(d, "pullrequest") }), want: event.ErrMalformed},
		{name: "pull request id not a number", header: bbHeader("pullrequest:created", "d"), body: with(prFile, func(d map[string]any) { d["pullrequest"].(map[string]any)["id"] = "16" }), want: event.ErrMalformed},
		{name: "comment without comment", header: bbHeader("pullrequest:comment_created", "d"), body: with(commentFile, func(d map[string]any) { delete(d, "comment") }), want: event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bitbucket.New().Parse(tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzParse feeds arbitrary bodies and event keys to the parser. The seed corpus is every real
// payload, so plain go test runs them all. Properties: no panic; errors wrap a parser sentinel; a
// parsed event is Bitbucket's, of a known kind, with a delivery id, and about the repository
// Identify reported (the one whose secrets verified it).
func FuzzParse(f *testing.F) {
	for _, p := range loadPayloads(f) {
		f.Add(eventKeyOf(p.name), "fuzz-delivery", p.body)
		f.Add(eventKeyOf(p.name), "", p.body)
	}
	f.Fuzz(func(t *testing.T, key, requestID string, body []byte) {
		h := bbHeader(key, requestID)
		p := bitbucket.New()
		_, repo, idErr := p.Identify(h, body)
		_ = p.Verify(h, body, [][]byte{testSecret})
		ev, err := p.Parse(h, body)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) && !errors.Is(err, event.ErrIgnored) && !errors.Is(err, event.ErrContentType) {
				t.Fatalf("Parse error %v wraps none of the parser sentinels", err)
			}
			return
		}
		if idErr != nil {
			t.Fatalf("Parse succeeded where Identify failed: %v", idErr)
		}
		if ev.Provider != event.Bitbucket || !ev.Kind.Valid() || ev.DeliveryID == "" {
			t.Fatalf("Parse returned provider %q kind %q delivery %q", ev.Provider, ev.Kind, ev.DeliveryID)
		}
		if requestID != "" && h.Get(bitbucket.HeaderRequest) != "" && ev.DeliveryID != h.Get(bitbucket.HeaderRequest) {
			t.Fatalf("delivery id %q, want X-Request-UUID %q", ev.DeliveryID, h.Get(bitbucket.HeaderRequest))
		}
		if ev.Repo() != repo {
			t.Fatalf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
		}
	})
}
