package gitlab_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitlab"
	"slipway.dev/slipway/webhooks/internal/payloadtest"
)

const (
	mrOpen   = "thirdparty/merge_request.open.drone-go-scm.json"
	mrNote   = "thirdparty/note.merge_request.drone-go-scm.json"
	pushFile = "thirdparty/push.drone-go-scm.json"
)

// TestMergeRequestActions maps every merge request action GitLab sends to a kind, or to ignored.
func TestMergeRequestActions(t *testing.T) {
	const oldrev = "1ca7e340460796fe3eb17e2ea1b383ac4a1c95b7"
	tests := []struct {
		action string
		oldrev any // nil leaves oldrev out
		want   event.Kind
	}{
		{action: "open", want: event.PROpened},
		{action: "update", oldrev: oldrev, want: event.PRUpdated},
		{action: "update"},             // title, labels, draft, reviewers: nothing to build
		{action: "update", oldrev: ""}, // as GitLab may send it
		{action: "merge", want: event.PRMerged},
		{action: "close", want: event.PRClosed},
		{action: "reopen", want: event.PRReopened},
		{action: "approved"},
		{action: "unapproved"},
		{action: "approval"},
		{action: "unapproval"},
		{action: ""},
		{action: "OPEN"},
	}
	for _, tt := range tests {
		name := tt.action
		if tt.oldrev != nil {
			name += " with oldrev " + tt.oldrev.(string)
		}
		t.Run(name, func(t *testing.T) {
			body := edited(t, mrOpen, func(d map[string]any) {
				attrs(d)["action"] = tt.action
				if tt.oldrev != nil {
					attrs(d)["oldrev"] = tt.oldrev
				}
			})
			ev, err := payloadtest.ParseOne(t, gitlab.New(), signedHeader("Merge Request Hook"), body)
			if tt.want == "" {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Parse = %+v, %v; want ignored", ev, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.want {
				t.Errorf("kind = %s, want %s", ev.Kind, tt.want)
			}
			if tt.want == event.PRUpdated && ev.Before != oldrev {
				t.Errorf("Before = %q, want oldrev %q", ev.Before, oldrev)
			}
		})
	}
}

// TestSubgroupPath proves that a project nested in groups keeps its whole path, for every event.
func TestSubgroupPath(t *testing.T) {
	const (
		path = "acme/platform/team-a/deploy/app"
		url  = "https://gitlab.example.com/acme/platform/team-a/deploy/app.git"
	)
	nest := func(d map[string]any) {
		p := d["project"].(map[string]any)
		p["path_with_namespace"] = path
		p["git_http_url"] = url
	}
	tests := []struct {
		name, file, eventType string
	}{
		{"push", pushFile, "Push Hook"},
		{"tag", "thirdparty/tag_push.create.drone-go-scm.json", "Tag Push Hook"},
		{"merge request", mrOpen, "Merge Request Hook"},
		{"note", mrNote, "Note Hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := edited(t, tt.file, nest)
			h := signedHeader(tt.eventType)
			p := gitlab.New()
			_, repo, err := p.Identify(h, body)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := payloadtest.ParseOne(t, p, h, body)
			if err != nil {
				t.Fatal(err)
			}
			want := event.Repo{FullName: path, URL: url}
			if repo != want || ev.Repo() != want {
				t.Errorf("Identify repo %+v, Parse repo %+v, want %+v", repo, ev.Repo(), want)
			}
		})
	}
}

// TestRepoFallback proves that the repository's clone URL stands in for a project's missing one.
func TestRepoFallback(t *testing.T) {
	body := edited(t, pushFile, func(d map[string]any) {
		delete(d["project"].(map[string]any), "git_http_url")
		d["repository"].(map[string]any)["git_http_url"] = "https://gitlab.com/gitlab-org/hello-world-old.git"
	})
	ev, err := payloadtest.ParseOne(t, gitlab.New(), signedHeader("Push Hook"), body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.RepoURL != "https://gitlab.com/gitlab-org/hello-world-old.git" || ev.RepoFullName != "gitlab-org/hello-world" {
		t.Errorf("repo = %+v, want the repository's URL and the project's path", ev.Repo())
	}
}

func TestFork(t *testing.T) {
	tests := []struct {
		name string
		edit func(mr map[string]any)
		want bool
	}{
		{name: "same project", edit: func(mr map[string]any) {}, want: false},
		{name: "other project", edit: func(mr map[string]any) { mr["source_project_id"] = 99.0 }, want: true},
		{name: "ids missing, same path", edit: func(mr map[string]any) {
			delete(mr, "source_project_id")
			mr["source"] = map[string]any{"path_with_namespace": "gitlab-org/hello-world"}
			mr["target"] = map[string]any{"path_with_namespace": "GitLab-org/Hello-World"}
		}, want: false},
		{name: "ids missing, other path", edit: func(mr map[string]any) {
			delete(mr, "target_project_id")
			mr["source"] = map[string]any{"path_with_namespace": "mallory/hello-world"}
			mr["target"] = map[string]any{"path_with_namespace": "gitlab-org/hello-world"}
		}, want: true},
		{name: "source unknown", edit: func(mr map[string]any) {
			delete(mr, "source_project_id")
			delete(mr, "source")
		}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct{ file, eventType, key string }{
				{mrOpen, "Merge Request Hook", "object_attributes"},
				{mrNote, "Note Hook", "merge_request"},
			} {
				body := edited(t, c.file, func(d map[string]any) { tt.edit(d[c.key].(map[string]any)) })
				ev, err := payloadtest.ParseOne(t, gitlab.New(), signedHeader(c.eventType), body)
				if err != nil {
					t.Fatal(err)
				}
				if ev.PullRequest.Fork != tt.want {
					t.Errorf("%s: Fork = %v, want %v", c.eventType, ev.PullRequest.Fork, tt.want)
				}
			}
		})
	}
}

func TestNotes(t *testing.T) {
	long := strings.Repeat("é", event.MaxCommentRunes+10)
	tests := []struct {
		name    string
		edit    func(d map[string]any)
		ignored bool
		comment string
	}{
		{name: "new note", edit: func(d map[string]any) {}, comment: "lgtm"},
		{name: "explicit create", edit: func(d map[string]any) { attrs(d)["action"] = "create" }, comment: "lgtm"},
		{name: "edited", edit: func(d map[string]any) { attrs(d)["action"] = "update" }, ignored: true},
		{name: "system note", edit: func(d map[string]any) { attrs(d)["system"] = true }, ignored: true},
		{name: "on an issue", edit: func(d map[string]any) { attrs(d)["noteable_type"] = "Issue"; delete(d, "merge_request") }, ignored: true},
		{name: "on a snippet", edit: func(d map[string]any) { attrs(d)["noteable_type"] = "Snippet" }, ignored: true},
		{name: "long", edit: func(d map[string]any) { attrs(d)["note"] = long }, comment: long[:2*event.MaxCommentRunes]},
		{name: "invalid UTF-8", edit: func(d map[string]any) { attrs(d)["note"] = "ok\xff" }, comment: "ok\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := payloadtest.ParseOne(t, gitlab.New(), signedHeader("Note Hook"), edited(t, mrNote, tt.edit))
			if tt.ignored {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Parse = %v, want ignored", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Comment != tt.comment {
				t.Errorf("comment = %.40q (%d bytes), want %.40q (%d bytes)", ev.Comment, len(ev.Comment), tt.comment, len(tt.comment))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	push := edited(t, pushFile, func(map[string]any) {})
	withHeader := func(eventType, key, value string) http.Header {
		h := signedHeader(eventType)
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
		{name: "malformed JSON", header: signedHeader("Push Hook"), body: []byte(`{"ref":`), want: event.ErrMalformed},
		{name: "JSON array", header: signedHeader("Push Hook"), body: []byte(`[]`), want: event.ErrMalformed},
		{name: "no event header", header: signedHeader(""), body: push, want: event.ErrMalformed},
		{name: "unused event type", header: signedHeader("Pipeline Hook"), body: push, want: event.ErrIgnored},
		{name: "system hook", header: signedHeader("System Hook"), body: push, want: event.ErrIgnored},
		{name: "event type in lower case", header: signedHeader("push hook"), body: push, want: event.ErrIgnored},
		{name: "text/plain", header: withHeader("Push Hook", "Content-Type", "text/plain"), body: push, want: event.ErrContentType},
		{name: "form-encoded", header: withHeader("Push Hook", "Content-Type", "application/x-www-form-urlencoded"), body: push, want: event.ErrContentType},
		{name: "no content type", header: withHeader("Push Hook", "Content-Type", ""), body: push, want: event.ErrContentType},
		{name: "gzip", header: withHeader("Push Hook", "Content-Encoding", "gzip"), body: push, want: event.ErrContentType},
		{name: "object kind disagrees with header", header: signedHeader("Tag Push Hook"), body: push, want: event.ErrMalformed},
		{name: "branch ref on a tag push", header: signedHeader("Tag Push Hook"), body: edited(t, pushFile, func(d map[string]any) { d["object_kind"] = "tag_push" }), want: event.ErrMalformed},
		{name: "push without project", header: signedHeader("Push Hook"), body: edited(t, pushFile, func(d map[string]any) { delete(d, "project") }), want: event.ErrMalformed},
		{name: "push without ref", header: signedHeader("Push Hook"), body: edited(t, pushFile, func(d map[string]any) { delete(d, "ref") }), want: event.ErrMalformed},
		{name: "push to a note ref", header: signedHeader("Push Hook"), body: edited(t, pushFile, func(d map[string]any) { d["ref"] = "refs/notes/commits" }), want: event.ErrIgnored},
		{name: "merge request without object_attributes", header: signedHeader("Merge Request Hook"), body: edited(t, mrOpen, func(d map[string]any) { delete(d, "object_attributes") }), want: event.ErrMalformed},
		{name: "merge request without iid", header: signedHeader("Merge Request Hook"), body: edited(t, mrOpen, func(d map[string]any) { delete(attrs(d), "iid") }), want: event.ErrMalformed},
		{name: "merge request iid a string", header: signedHeader("Merge Request Hook"), body: edited(t, mrOpen, func(d map[string]any) { attrs(d)["iid"] = "1" }), want: event.ErrMalformed},
		{name: "note without merge_request", header: signedHeader("Note Hook"), body: edited(t, mrNote, func(d map[string]any) { delete(d, "merge_request") }), want: event.ErrMalformed},
		{name: "note without object_attributes", header: signedHeader("Note Hook"), body: edited(t, mrNote, func(d map[string]any) { delete(d, "object_attributes") }), want: event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payloadtest.ParseOne(t, gitlab.New(), tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBranchDeleteWithoutCheckoutSHA pins the branch-delete shape: After is the zero SHA, so the
// event names no revision to build.
func TestBranchDeleteWithoutCheckoutSHA(t *testing.T) {
	ev, err := payloadtest.ParseOne(t, gitlab.New(), signedHeader("Push Hook"), edited(t, "thirdparty/push.branch-delete.drone-go-scm.json", func(map[string]any) {}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.BranchDelete || ev.Branch() != "feature" || ev.Revision() != "" {
		t.Errorf("got kind %s branch %q revision %q, want branch-delete of feature with no revision", ev.Kind, ev.Branch(), ev.Revision())
	}
}

// FuzzParse feeds arbitrary bodies and event types to the parser. The seed corpus is every real
// payload, so plain go test runs them all. Properties: no panic; errors wrap a parser sentinel; a
// parsed event is GitLab's, of a known kind, about the repository Identify reported (the one whose
// secrets verified it), with a delivery id the receiver accepts.
func FuzzParse(f *testing.F) {
	for _, p := range loadPayloads(f) {
		f.Add(eventTypeOf(p.name), "golden", p.body)
		f.Add(eventTypeOf(p.name), "", p.body)
	}
	f.Fuzz(func(t *testing.T, eventType, deliveryID string, body []byte) {
		h := jsonHeader(eventType)
		if deliveryID != "" {
			h.Set(gitlab.HeaderEventUUID, deliveryID)
		}
		h.Set(gitlab.HeaderToken, string(testSecret))
		p := gitlab.New()
		id, repo, idErr := p.Identify(h, body)
		if err := p.Verify(h, body, [][]byte{testSecret}); err != nil {
			t.Fatalf("Verify with the right token: %v", err)
		}
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
		if ev.Provider != event.GitLab || !ev.Kind.Valid() {
			t.Fatalf("Parse returned provider %q kind %q", ev.Provider, ev.Kind)
		}
		if ev.Repo() != repo {
			t.Fatalf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
		}
		if id != "" && id != ev.DeliveryID || ev.DeliveryID == "" {
			t.Fatalf("Identify id %q, Parse id %q", id, ev.DeliveryID)
		}
		ev.ReceivedAt, ev.BodySHA256 = receivedAt, event.BodyDigest(body)
		if err := ev.Validate(); err != nil && strings.Contains(err.Error(), "deliveryID") {
			t.Fatalf("delivery id %q does not validate: %v", ev.DeliveryID, err)
		}
	})
}
