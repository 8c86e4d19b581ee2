package gitea_test

import (
	"errors"
	"fmt"
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
	return parseOne(t, gitea.New(), giteaHeader(eventType, "d"), encode(t, doc))
}

// parseOne runs Parse and returns its one event: Gitea deliveries report one each.
func parseOne(t testing.TB, p *gitea.Parser, h http.Header, body []byte) (event.Event, error) {
	t.Helper()
	evs, err := p.Parse(h, body)
	if err != nil {
		return event.Event{}, err
	}
	if len(evs) != 1 {
		t.Fatalf("Parse returned %d events, want 1", len(evs))
	}
	return evs[0], nil
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
// parse returns one event, the parser's provider's, of a known kind, with the delivery id and a
// dedup key, and about the repository Identify reported (the one whose secrets verified it).
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
		ev, err := parseOne(t, p, h, body)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) && !errors.Is(err, event.ErrIgnored) && !errors.Is(err, event.ErrContentType) {
				t.Fatalf("Parse error %v wraps none of the parser sentinels", err)
			}
			return
		}
		if idErr != nil {
			t.Fatalf("Parse succeeded where Identify failed: %v", idErr)
		}
		if ev.Provider != provider || !ev.Kind.Valid() || ev.DeliveryID != "fuzz-delivery" || ev.DedupKey == "" {
			t.Fatalf("Parse returned provider %q kind %q delivery %q key %q", ev.Provider, ev.Kind, ev.DeliveryID, ev.DedupKey)
		}
		if ev.Repo() != repo {
			t.Fatalf("Parse repo %+v differs from Identify repo %+v", ev.Repo(), repo)
		}
	})
}

// TestDedupKey covers what Gitea and Forgejo deliveries are deduplicated by. A replay (the hook's
// "Replay" button, or a retry) resends the body under a new X-Gitea-Delivery, and must get the
// same key; every different change must get a different one.
func TestDedupKey(t *testing.T) {
	key := func(t *testing.T, p *gitea.Parser, eventType, delivery, name string, edit func(map[string]any)) event.Event {
		t.Helper()
		doc := readPayload(t, name)
		edit(doc)
		h := giteaHeader(eventType, delivery)
		if p.Provider() == event.Forgejo {
			h = forgejoHeader(eventType, delivery)
		}
		ev, err := parseOne(t, p, h, encode(t, doc))
		if err != nil {
			t.Fatal(err)
		}
		if ev.DeliveryID != delivery {
			t.Errorf("delivery id %q, want the header's %q, kept for reference", ev.DeliveryID, delivery)
		}
		if !strings.HasPrefix(ev.DedupKey, "change-") || ev.Key() != ev.DedupKey {
			t.Errorf("key %q, dedup key %q; want a change key", ev.Key(), ev.DedupKey)
		}
		return ev
	}
	same := func(map[string]any) {}
	for _, p := range []*gitea.Parser{gitea.New(), gitea.NewForgejo()} {
		t.Run(string(p.Provider()), func(t *testing.T) {
			tests := []struct {
				name       string
				eventType  string
				file       string
				edit       func(map[string]any)
				sameAsBase bool
			}{
				{name: "push replayed", eventType: "push", file: pushFile, edit: same, sameAsBase: true},
				{name: "push with other commits listed", eventType: "push", file: pushFile,
					edit: func(d map[string]any) { d["commits"] = []any{} }, sameAsBase: true},
				{name: "test delivery of the branch's head", eventType: "push", file: pushFile,
					edit: func(d map[string]any) { d["before"] = d["after"] }},
				{name: "push of another commit", eventType: "push", file: pushFile,
					edit: func(d map[string]any) { d["after"] = sha }},
				{name: "push to another branch", eventType: "push", file: pushFile,
					edit: func(d map[string]any) { d["ref"] = "refs/heads/other" }},
				{name: "push to another repository", eventType: "push", file: pushFile,
					edit: func(d map[string]any) { d["repository"].(map[string]any)["full_name"] = "gogits/other" }},
			}
			base := key(t, p, "push", "delivery-1", pushFile, same)
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ev := key(t, p, tt.eventType, fmt.Sprintf("delivery-%d", i+2), tt.file, tt.edit)
					if (ev.Key() == base.Key()) != tt.sameAsBase {
						t.Errorf("key %q vs the first push's %q: same = %v, want %v", ev.Key(), base.Key(), !tt.sameAsBase, tt.sameAsBase)
					}
				})
			}

			t.Run("pull request", func(t *testing.T) {
				opened := key(t, p, "pull_request", "pr-1", prFile, same)
				if again := key(t, p, "pull_request", "pr-2", prFile, same); again.Key() != opened.Key() {
					t.Errorf("replayed pull request event has key %q, want %q", again.Key(), opened.Key())
				}
				for name, edit := range map[string]func(map[string]any){
					"other action":   func(d map[string]any) { d["action"] = "reopened" },
					"other head":     func(d map[string]any) { d["pull_request"].(map[string]any)["head"].(map[string]any)["sha"] = sha },
					"other pr":       func(d map[string]any) { d["pull_request"].(map[string]any)["number"] = 99 },
					"synchronized":   func(d map[string]any) { d["action"] = "synchronized" },
					"closed, merged": func(d map[string]any) { d["action"] = "closed"; d["pull_request"].(map[string]any)["merged"] = true },
				} {
					if ev := key(t, p, "pull_request", "pr-3", prFile, edit); ev.Key() == opened.Key() {
						t.Errorf("%s: key %q is the opened event's", name, ev.Key())
					}
				}
			})

			t.Run("comment", func(t *testing.T) {
				withID := func(id int) func(map[string]any) {
					return func(d map[string]any) { d["comment"].(map[string]any)["id"] = id }
				}
				first := key(t, p, "issue_comment", "c-1", commentFile, withID(1))
				if again := key(t, p, "issue_comment", "c-2", commentFile, withID(1)); again.Key() != first.Key() {
					t.Errorf("replayed comment has key %q, want %q", again.Key(), first.Key())
				}
				if other := key(t, p, "issue_comment", "c-3", commentFile, withID(2)); other.Key() == first.Key() {
					t.Errorf("two comments with the same text share key %q", first.Key())
				}
			})

			// A branch created by a push is reported twice, by a create and a push event; both
			// are the same change.
			t.Run("create and push of one branch", func(t *testing.T) {
				created := key(t, p, "create", "r-1", createFile, func(d map[string]any) { d["ref_type"] = "branch"; d["ref"] = "feature" })
				pushed := key(t, p, "push", "r-2", pushFile, func(d map[string]any) {
					d["ref"], d["before"], d["after"] = "refs/heads/feature", event.ZeroSHA, sha
					d["repository"] = readPayload(t, createFile)["repository"]
				})
				if created.Kind != pushed.Kind || created.Key() != pushed.Key() {
					t.Errorf("create %s %q and push %s %q of one branch differ", created.Kind, created.Key(), pushed.Kind, pushed.Key())
				}
			})
		})
	}
}
