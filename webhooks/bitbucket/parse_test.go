package bitbucket_test

import (
	"errors"
	"fmt"
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

// parseAll runs an edited payload file through Parse.
func parseAll(t *testing.T, key, name string, edit func(map[string]any)) ([]event.Event, error) {
	t.Helper()
	doc := readPayload(t, name)
	edit(doc)
	return bitbucket.New().Parse(bbHeader(key, "d"), encode(t, doc))
}

// parse runs an edited payload file through Parse and returns its one event.
func parse(t *testing.T, key, name string, edit func(map[string]any)) (event.Event, error) {
	t.Helper()
	evs, err := parseAll(t, key, name, edit)
	if err != nil {
		return event.Event{}, err
	}
	if len(evs) != 1 {
		t.Fatalf("Parse returned %d events, want 1", len(evs))
	}
	return evs[0], nil
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

// TestPushChanges proves that every branch or tag a push changes becomes its own event, in the
// payload's order, and that a deleted tag among them drops only itself.
func TestPushChanges(t *testing.T) {
	const a, b = "49cb0fd6590af14dbfb717d0e801f325362af5d9", "6ca0691239785a619fa1dce7bf1073f50499cd60"
	type want struct {
		kind          event.Kind
		ref           string
		before, after string
	}
	tests := []struct {
		name    string
		changes []any
		want    []want // nil means ignored
	}{
		{name: "branch update", changes: []any{change("branch", "main", a, b)}, want: []want{{event.Push, "refs/heads/main", a, b}}},
		{name: "branch create", changes: []any{change("branch", "dev", "", b)}, want: []want{{event.BranchCreate, "refs/heads/dev", "", b}}},
		{name: "branch delete", changes: []any{change("branch", "dev", a, "")}, want: []want{{event.BranchDelete, "refs/heads/dev", a, event.ZeroSHA}}},
		{name: "tag create", changes: []any{change("tag", "v1", "", b)}, want: []want{{event.Tag, "refs/tags/v1", "", b}}},
		{name: "tag moved", changes: []any{change("tag", "v1", a, b)}, want: []want{{event.Tag, "refs/tags/v1", a, b}}},
		{name: "tag delete", changes: []any{change("tag", "v1", a, "")}},
		{name: "several changes", changes: []any{change("branch", "one", a, b), change("branch", "two", "", a), change("tag", "v3", "", b)},
			want: []want{{event.Push, "refs/heads/one", a, b}, {event.BranchCreate, "refs/heads/two", "", a}, {event.Tag, "refs/tags/v3", "", b}}},
		{name: "deleted tag first", changes: []any{change("tag", "old", a, ""), change("branch", "main", a, b)},
			want: []want{{event.Push, "refs/heads/main", a, b}}},
		{name: "deleted tag between", changes: []any{change("branch", "one", a, b), change("tag", "old", a, ""), change("tag", "v2", "", a)},
			want: []want{{event.Push, "refs/heads/one", a, b}, {event.Tag, "refs/tags/v2", "", a}}},
		{name: "mercurial changes skipped", changes: []any{change("bookmark", "hg", a, b), change("tag", "v2", "", a)}, want: []want{{event.Tag, "refs/tags/v2", "", a}}},
		{name: "no branch or tag change", changes: []any{change("named_branch", "hg", a, b)}},
		{name: "no changes", changes: []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := parseAll(t, "repo:push", pushFile, func(d map[string]any) {
				d["push"] = map[string]any{"changes": tt.changes}
			})
			if tt.want == nil {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Parse = %v, %v; want ignored", evs, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []want
			keys := map[string]bool{}
			for _, ev := range evs {
				got = append(got, want{ev.Kind, ev.Ref, ev.Before, ev.After})
				if ev.DeliveryID != "d" {
					t.Errorf("%s: delivery id %q, want the X-Request-UUID of the delivery", ev.Ref, ev.DeliveryID)
				}
				if ev.DedupKey == "" || keys[ev.DedupKey] {
					t.Errorf("%s: dedup key %q is empty or shared with another change", ev.Ref, ev.DedupKey)
				}
				keys[ev.DedupKey] = true
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("events\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// TestDedupKey covers the key events are deduplicated by: X-Request-UUID is not stable across
// retries and resends, so a delivery sent again under another id must get the same key, each
// change of a push the key it would get alone, and different changes different keys.
func TestDedupKey(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(payloadDir, pushFile))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(payloadDir, "thirdparty/repo_push.drone-go-scm.json"))
	if err != nil {
		t.Fatal(err)
	}
	parseKeyed := func(h http.Header, body []byte) []event.Event {
		t.Helper()
		evs, err := bitbucket.New().Parse(h, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			evs[i].ReceivedAt, evs[i].BodySHA256 = receivedAt, event.BodyDigest(body)
			if err := evs[i].Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		}
		return evs
	}
	key := func(h http.Header, body []byte) string {
		t.Helper()
		evs := parseKeyed(h, body)
		if len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		return evs[0].Key()
	}

	first := parseKeyed(bbHeader("repo:push", "req-1"), body)[0]
	if first.DeliveryID != "req-1" || !strings.HasPrefix(first.Key(), "change-") {
		t.Errorf("with X-Request-UUID: delivery id %q, key %q; want req-1 and a change key", first.DeliveryID, first.Key())
	}
	if got := key(bbHeader("repo:push", "req-2"), body); got != first.Key() {
		t.Errorf("the same push resent under another X-Request-UUID has key %q, want %q", got, first.Key())
	}
	noID := parseKeyed(bbHeader("repo:push", ""), body)[0]
	if noID.Key() != first.Key() || noID.DeliveryID != noID.DedupKey {
		t.Errorf("without X-Request-UUID: key %q, delivery id %q; want both %q", noID.Key(), noID.DeliveryID, first.Key())
	}
	if pid, _, _ := bitbucket.New().Identify(bbHeader("repo:push", "req-1"), body); pid != "req-1" {
		t.Errorf("Identify id = %q, want req-1", pid)
	}
	if key(bbHeader("repo:push", "req-1"), other) == first.Key() {
		t.Errorf("different pushes share key %q", first.Key())
	}
	// Whitespace does not change the event, so it is the same delivery.
	if got := key(bbHeader("repo:push", "req-3"), append(body, '\n')); got != first.Key() {
		t.Errorf("re-serialized body has key %q, want %q", got, first.Key())
	}

	const a, b = "49cb0fd6590af14dbfb717d0e801f325362af5d9", "6ca0691239785a619fa1dce7bf1073f50499cd60"
	withChanges := func(changes ...any) []byte {
		doc := readPayload(t, pushFile)
		doc["push"] = map[string]any{"changes": changes}
		return encode(t, doc)
	}
	several := parseKeyed(bbHeader("repo:push", "req-4"), withChanges(change("branch", "main", a, b), change("tag", "v1", "", b)))
	if len(several) != 2 {
		t.Fatalf("%d events, want 2", len(several))
	}
	if alone := key(bbHeader("repo:push", "req-5"), withChanges(change("tag", "v1", "", b))); several[1].Key() != alone {
		t.Errorf("tag change of a two-ref push has key %q; pushed alone, %q: want one key per change", several[1].Key(), alone)
	}
	if test := key(bbHeader("repo:push", "req-6"), withChanges(change("branch", "main", b, b))); test == several[0].Key() {
		t.Errorf("a push with before == after shares the key of the push that moved the branch there")
	}

	comment := func(id float64) []byte {
		doc := readPayload(t, commentFile)
		doc["comment"].(map[string]any)["id"] = id
		return encode(t, doc)
	}
	c1 := key(bbHeader("pullrequest:comment_created", "c-1"), comment(1))
	if c1 != key(bbHeader("pullrequest:comment_created", "c-2"), comment(1)) {
		t.Errorf("one comment resent under another id has another key")
	}
	if c1 == key(bbHeader("pullrequest:comment_created", ""), comment(2)) {
		t.Errorf("two comments on one pull request share key %q", c1)
	}
	pr, err := os.ReadFile(filepath.Join(payloadDir, prFile))
	if err != nil {
		t.Fatal(err)
	}
	if key(bbHeader("pullrequest:created", "p-1"), pr) != key(bbHeader("pullrequest:created", "p-2"), pr) {
		t.Errorf("one pull request event resent under another id has another key")
	}
	if key(bbHeader("pullrequest:created", ""), pr) == key(bbHeader("pullrequest:fulfilled", ""), pr) {
		t.Errorf("different event keys share a key")
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
// parse returns at least one event, each Bitbucket's, of a known kind, with a delivery id and a
// dedup key, and about the repository Identify reported (the one whose secrets verified it).
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
		evs, err := p.Parse(h, body)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) && !errors.Is(err, event.ErrIgnored) && !errors.Is(err, event.ErrContentType) {
				t.Fatalf("Parse error %v wraps none of the parser sentinels", err)
			}
			return
		}
		if idErr != nil {
			t.Fatalf("Parse succeeded where Identify failed: %v", idErr)
		}
		if len(evs) == 0 {
			t.Fatal("Parse returned no event and no error")
		}
		for _, ev := range evs {
			if ev.Provider != event.Bitbucket || !ev.Kind.Valid() || ev.DeliveryID == "" || ev.DedupKey == "" {
				t.Fatalf("Parse returned provider %q kind %q delivery %q key %q", ev.Provider, ev.Kind, ev.DeliveryID, ev.DedupKey)
			}
			if requestID != "" && h.Get(bitbucket.HeaderRequest) != "" && ev.DeliveryID != h.Get(bitbucket.HeaderRequest) {
				t.Fatalf("delivery id %q, want X-Request-UUID %q", ev.DeliveryID, h.Get(bitbucket.HeaderRequest))
			}
			if ev.Repo() != repo {
				t.Fatalf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
			}
		}
	})
}
