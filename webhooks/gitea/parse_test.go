package gitea_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitea"
)

const (
	pushFile    = "thirdparty/push.drone-go-scm.json"
	prFile      = "thirdparty/pull_request.opened.drone-go-scm.json"
	commentFile = "thirdparty/issue_comment.on-pr.drone-go-scm.json"
	createFile  = "thirdparty/create.tag.drone-go-scm.json"
	sha         = "599d25c67b05717269f50ac082b34f176d085179"
)

// parse runs an edited payload file through Parse.
func parse(t *testing.T, eventType, name string, edit func(map[string]any)) (event.Event, error) {
	t.Helper()
	doc := readPayload(t, name)
	edit(doc)
	return gitea.New().Parse(giteaHeader(eventType, "d"), encode(t, doc))
}

func TestPullRequestActions(t *testing.T) {
	tests := []struct {
		action string
		merged bool
		want   event.Kind // "" means ignored
	}{
		{action: "opened", want: event.PROpened},
		{action: "synchronized", want: event.PRUpdated},
		{action: "synchronize", want: event.PRUpdated},
		{action: "reopened", want: event.PRReopened},
		{action: "closed", want: event.PRClosed},
		{action: "closed", merged: true, want: event.PRMerged},
		{action: "edited"},
		{action: "label_updated"},
		{action: "assigned"},
		{action: "reviewed"},
		{action: ""},
	}
	for _, tt := range tests {
		name := tt.action
		if tt.merged {
			name += " merged"
		}
		t.Run(name, func(t *testing.T) {
			ev, err := parse(t, "pull_request", prFile, func(d map[string]any) {
				d["action"] = tt.action
				d["pull_request"].(map[string]any)["merged"] = tt.merged
			})
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

func TestRefEvents(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		file      string
		edit      func(map[string]any)
		kind      event.Kind // "" means ignored
		ref       string
		before    string
		after     string
		// knownGap names the only field event.Validate may reject, for what the provider cannot send.
		knownGap string
	}{
		{name: "push creates a branch", eventType: "push", file: pushFile,
			edit: func(d map[string]any) { d["before"] = event.ZeroSHA },
			kind: event.BranchCreate, ref: "refs/heads/master", before: event.ZeroSHA, after: "4522cbcefc20728a5b72b3a86af35e608622c514"},
		{name: "push deletes a branch", eventType: "push", file: pushFile,
			edit: func(d map[string]any) { d["after"] = event.ZeroSHA },
			kind: event.BranchDelete, ref: "refs/heads/master", before: "9836a96a253cce25d17988fcf41b8c4205cf779f", after: event.ZeroSHA},
		{name: "push of a tag", eventType: "push", file: pushFile,
			edit: func(d map[string]any) { d["ref"] = "refs/tags/v2"; d["before"] = event.ZeroSHA },
			kind: event.Tag, ref: "refs/tags/v2", before: event.ZeroSHA, after: "4522cbcefc20728a5b72b3a86af35e608622c514"},
		{name: "push deletes a tag", eventType: "push", file: pushFile,
			edit: func(d map[string]any) { d["ref"] = "refs/tags/v2"; d["after"] = event.ZeroSHA }},
		{name: "push to a note ref", eventType: "push", file: pushFile,
			edit: func(d map[string]any) { d["ref"] = "refs/notes/commits" }},
		{name: "create of a tag", eventType: "create", file: createFile, edit: func(map[string]any) {},
			kind: event.Tag, ref: "refs/tags/v1.0.0", after: sha},
		{name: "create of a branch", eventType: "create", file: createFile,
			edit: func(d map[string]any) { d["ref_type"] = "branch"; d["ref"] = "feature" },
			kind: event.BranchCreate, ref: "refs/heads/feature", after: sha},
		{name: "create with a full ref", eventType: "create", file: createFile,
			edit: func(d map[string]any) { d["ref_type"] = "branch"; d["ref"] = "refs/heads/feature" },
			kind: event.BranchCreate, ref: "refs/heads/feature", after: sha},
		{name: "create without sha", eventType: "create", file: createFile,
			edit: func(d map[string]any) { delete(d, "sha") }},
		{name: "create of another ref type", eventType: "create", file: createFile,
			edit: func(d map[string]any) { d["ref_type"] = "note" }},
		// Gitea's delete event carries no commit, so Before stays empty.
		{name: "delete of a branch", eventType: "delete", file: createFile,
			edit: func(d map[string]any) { d["ref_type"] = "branch"; d["ref"] = "feature"; delete(d, "sha") },
			kind: event.BranchDelete, ref: "refs/heads/feature", after: event.ZeroSHA, knownGap: "before"},
		{name: "delete of a tag", eventType: "delete", file: createFile,
			edit: func(d map[string]any) { delete(d, "sha") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parse(t, tt.eventType, tt.file, tt.edit)
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
			ev.ReceivedAt, ev.BodySHA256 = time.Now(), event.BodyDigest(nil)
			if err := ev.Validate(); err != nil {
				if tt.knownGap == "" || !strings.HasPrefix(err.Error(), "invalid event: "+tt.knownGap+" ") {
					t.Errorf("Validate: %v", err)
				} else {
					t.Logf("known gap, event.Validate rejects it: %v", err)
				}
			}
		})
	}
}

func TestComments(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		edit      func(map[string]any)
		ignored   bool
	}{
		{name: "on a pull request", eventType: "issue_comment", edit: func(map[string]any) {}},
		{name: "pull_request_comment event", eventType: "pull_request_comment", edit: func(map[string]any) {}},
		{name: "is_pull without issue.pull_request", eventType: "issue_comment", edit: func(d map[string]any) {
			d["is_pull"] = true
			delete(d["issue"].(map[string]any), "pull_request")
		}},
		{name: "on an issue", eventType: "issue_comment", edit: func(d map[string]any) {
			d["issue"].(map[string]any)["pull_request"] = nil
		}, ignored: true},
		{name: "edited", eventType: "issue_comment", edit: func(d map[string]any) { d["action"] = "edited" }, ignored: true},
		{name: "deleted", eventType: "issue_comment", edit: func(d map[string]any) { d["action"] = "deleted" }, ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parse(t, tt.eventType, commentFile, tt.edit)
			if tt.ignored {
				if !errors.Is(err, event.ErrIgnored) {
					t.Fatalf("Parse = %v, %v; want ignored", ev.Kind, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ev.Kind != event.PRComment || ev.PullRequest.Number != 2 || ev.Ref != "refs/pull/2/head" || ev.Comment != "run gofmt" || ev.Author != "unknwon" {
				t.Errorf("got %+v, want a comment on pull request 2", ev)
			}
		})
	}
}

func TestLongComment(t *testing.T) {
	long := make([]rune, event.MaxCommentRunes+10)
	for i := range long {
		long[i] = 'é'
	}
	ev, err := parse(t, "issue_comment", commentFile, func(d map[string]any) {
		d["comment"].(map[string]any)["body"] = string(long)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(ev.Comment)); n != event.MaxCommentRunes {
		t.Errorf("comment has %d runes, want it cut to %d", n, event.MaxCommentRunes)
	}
}

func TestFork(t *testing.T) {
	tests := []struct {
		name string
		edit func(head, base map[string]any)
		want bool
	}{
		{name: "same repository", edit: func(head, base map[string]any) {}, want: false},
		{name: "other repository", edit: func(head, base map[string]any) {
			head["repo_id"] = 99
			head["repo"].(map[string]any)["id"] = 99
			head["repo"].(map[string]any)["full_name"] = "mallory/my-repo"
		}, want: true},
		{name: "repo_id only", edit: func(head, base map[string]any) {
			head["repo_id"] = 99
			delete(head, "repo")
		}, want: true},
		{name: "head repository deleted", edit: func(head, base map[string]any) {
			delete(head, "repo_id")
			head["repo"] = nil
		}, want: true},
		{name: "ids missing, names differ only in case", edit: func(head, base map[string]any) {
			delete(head, "repo_id")
			delete(head["repo"].(map[string]any), "id")
			head["repo"].(map[string]any)["full_name"] = "JCitizen/My-Repo"
		}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parse(t, "pull_request", prFile, func(d map[string]any) {
				p := d["pull_request"].(map[string]any)
				tt.edit(p["head"].(map[string]any), p["base"].(map[string]any))
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
		{name: "malformed JSON", header: giteaHeader("push", "d"), body: []byte(`{"ref":`), want: event.ErrMalformed},
		{name: "JSON array", header: giteaHeader("push", "d"), body: []byte(`[]`), want: event.ErrMalformed},
		{name: "no event header", header: giteaHeader("", "d"), body: push, want: event.ErrMalformed},
		{name: "no delivery header", header: giteaHeader("push", ""), body: push, want: event.ErrMalformed},
		{name: "unused event type", header: giteaHeader("issues", "d"), body: push, want: event.ErrIgnored},
		{name: "unused finer event type", header: giteaHeader("pull_request_label", "d"), body: push, want: event.ErrIgnored},
		{name: "form-encoded", header: withHeader(giteaHeader("push", "d"), "Content-Type", "application/x-www-form-urlencoded"), body: push, want: event.ErrContentType},
		{name: "no content type", header: withHeader(giteaHeader("push", "d"), "Content-Type", ""), body: push, want: event.ErrContentType},
		{name: "gzip", header: withHeader(giteaHeader("push", "d"), "Content-Encoding", "gzip"), body: push, want: event.ErrContentType},
		{name: "push without repository", header: giteaHeader("push", "d"), body: with(pushFile, func(d map[string]any) { delete(d, "repository") }), want: event.ErrMalformed},
		{name: "push without ref", header: giteaHeader("push", "d"), body: with(pushFile, func(d map[string]any) { delete(d, "ref") }), want: event.ErrMalformed},
		{name: "create without ref", header: giteaHeader("create", "d"), body: with(createFile, func(d map[string]any) { delete(d, "ref") }), want: event.ErrMalformed},
		{name: "pull request without pull_request", header: giteaHeader("pull_request", "d"), body: with(prFile, func(d map[string]any) { delete(d, "pull_request") }), want: event.ErrMalformed},
		{name: "pull request head sha not a string", header: giteaHeader("pull_request", "d"), body: with(prFile, func(d map[string]any) {
			d["pull_request"].(map[string]any)["head"].(map[string]any)["sha"] = 1
		}), want: event.ErrMalformed},
		{name: "comment without comment", header: giteaHeader("issue_comment", "d"), body: with(commentFile, func(d map[string]any) { delete(d, "comment") }), want: event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gitea.New().Parse(tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzParse feeds arbitrary bodies and event types to both parsers. The seed corpus is every real
// payload, so plain go test runs them all. Properties: no panic; errors wrap a parser sentinel; a
// parsed event is the parser's provider's, of a known kind, and about the repository Identify
// reported (the one whose secrets verified it).
func FuzzParse(f *testing.F) {
	for _, p := range loadPayloads(f) {
		f.Add(eventTypeOf(p.name), false, p.body)
		f.Add(eventTypeOf(p.name), true, p.body)
	}
	f.Fuzz(func(t *testing.T, eventType string, forgejo bool, body []byte) {
		h, p, provider := giteaHeader(eventType, "fuzz-delivery"), gitea.New(), event.Gitea
		if forgejo {
			h, p, provider = forgejoHeader(eventType, "fuzz-delivery"), gitea.NewForgejo(), event.Forgejo
		}
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
		if ev.Provider != provider || !ev.Kind.Valid() || ev.DeliveryID != "fuzz-delivery" {
			t.Fatalf("Parse returned provider %q kind %q delivery %q", ev.Provider, ev.Kind, ev.DeliveryID)
		}
		if ev.Repo() != repo {
			t.Fatalf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
		}
	})
}
