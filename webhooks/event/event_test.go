package event_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"slipway.dev/slipway/webhooks/event"
)

const (
	sha1 = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	sha2 = "a10867b14bb761a232cd80139fbd4c0d33264240"
)

func valid(kind event.Kind) event.Event {
	ev := event.Event{
		Provider:     event.GitHub,
		Kind:         kind,
		DeliveryID:   "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		RepoURL:      "https://github.com/octo/app.git",
		RepoFullName: "octo/app",
		Ref:          "refs/heads/main",
		Before:       sha1,
		After:        sha2,
		Author:       "octocat",
		ReceivedAt:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		BodySHA256:   event.BodyDigest([]byte("{}")),
	}
	switch {
	case kind == event.Tag:
		ev.Ref = "refs/tags/v1.0.0"
	case kind == event.BranchCreate:
		ev.Before = event.ZeroSHA
	case kind == event.BranchDelete:
		ev.After = event.ZeroSHA
	case kind == event.Ping:
		ev.Ref, ev.Before, ev.After = "", "", ""
	case kind.IsPullRequest():
		ev.Ref, ev.Before = "refs/pull/7/head", ""
		ev.PullRequest = &event.PullRequest{Number: 7, HeadRef: "feature", HeadSHA: sha2, BaseRef: "main", BaseSHA: sha1}
	}
	return ev
}

func TestValidateAcceptsEveryKind(t *testing.T) {
	kinds := []event.Kind{event.Push, event.Tag, event.BranchCreate, event.BranchDelete, event.PROpened,
		event.PRUpdated, event.PRClosed, event.PRMerged, event.PRReopened, event.PRComment, event.Ping}
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			if err := valid(k).Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		kind  event.Kind
		edit  func(*event.Event)
		field string
	}{
		{"no provider", event.Push, func(e *event.Event) { e.Provider = "" }, "provider"},
		{"unknown provider", event.Push, func(e *event.Event) { e.Provider = "svn" }, "provider"},
		{"no kind", event.Push, func(e *event.Event) { e.Kind = "" }, "kind"},
		{"unknown kind", event.Push, func(e *event.Event) { e.Kind = "star" }, "kind"},
		{"no delivery id", event.Push, func(e *event.Event) { e.DeliveryID = "" }, "deliveryID"},
		{"long delivery id", event.Push, func(e *event.Event) { e.DeliveryID = strings.Repeat("a", 257) }, "deliveryID"},
		{"delivery id with newline", event.Push, func(e *event.Event) { e.DeliveryID = "a\nb" }, "deliveryID"},
		{"long dedup key", event.Push, func(e *event.Event) { e.DedupKey = strings.Repeat("a", 257) }, "dedupKey"},
		{"dedup key with space", event.Push, func(e *event.Event) { e.DedupKey = "a b" }, "dedupKey"},
		{"no received time", event.Push, func(e *event.Event) { e.ReceivedAt = time.Time{} }, "receivedAt"},
		{"no body digest", event.Push, func(e *event.Event) { e.BodySHA256 = "" }, "bodySHA256"},
		{"upper-case body digest", event.Push, func(e *event.Event) { e.BodySHA256 = strings.ToUpper(e.BodySHA256) }, "bodySHA256"},
		{"long comment", event.PRComment, func(e *event.Event) { e.Comment = strings.Repeat("x", event.MaxCommentRunes+1) }, "comment"},
		{"no repo name", event.Push, func(e *event.Event) { e.RepoFullName = "" }, "repoFullName"},
		{"no repo url", event.Push, func(e *event.Event) { e.RepoURL = "" }, "repoURL"},
		{"ftp repo url", event.Push, func(e *event.Event) { e.RepoURL = "ftp://github.com/octo/app.git" }, "repoURL"},
		{"repo url with credentials", event.Push, func(e *event.Event) { e.RepoURL = "https://x:y@github.com/octo/app.git" }, "repoURL"},
		{"no ref", event.Push, func(e *event.Event) { e.Ref = "" }, "ref"},
		{"tag ref on push", event.Push, func(e *event.Event) { e.Ref = "refs/tags/v1" }, "ref"},
		{"bare branch prefix", event.Push, func(e *event.Event) { e.Ref = "refs/heads/" }, "ref"},
		{"branch ref on tag", event.Tag, func(e *event.Event) { e.Ref = "refs/heads/main" }, "ref"},
		{"push without before", event.Push, func(e *event.Event) { e.Before = "" }, "before"},
		{"push from zero", event.Push, func(e *event.Event) { e.Before = event.ZeroSHA }, "before"},
		{"push without after", event.Push, func(e *event.Event) { e.After = "" }, "after"},
		{"push to zero", event.Push, func(e *event.Event) { e.After = event.ZeroSHA }, "after"},
		{"after not hex", event.Push, func(e *event.Event) { e.After = "main" }, "after"},
		{"create with before", event.BranchCreate, func(e *event.Event) { e.Before = sha1 }, "before"},
		{"delete with after", event.BranchDelete, func(e *event.Event) { e.After = sha2 }, "after"},
		{"push with pull request", event.Push, func(e *event.Event) { e.PullRequest = &event.PullRequest{Number: 1} }, "pullRequest"},
		{"pr without pull request", event.PROpened, func(e *event.Event) { e.PullRequest = nil }, "pullRequest"},
		{"pr without number", event.PROpened, func(e *event.Event) { e.PullRequest.Number = 0 }, "pullRequest.number"},
		{"pr without head ref", event.PROpened, func(e *event.Event) { e.PullRequest.HeadRef = "" }, "pullRequest.headRef"},
		{"pr without base ref", event.PROpened, func(e *event.Event) { e.PullRequest.BaseRef = "" }, "pullRequest.baseRef"},
		{"pr without head sha", event.PRUpdated, func(e *event.Event) { e.PullRequest.HeadSHA = "" }, "pullRequest.headSHA"},
		{"pr head sha too short", event.PRUpdated, func(e *event.Event) { e.PullRequest.HeadSHA = "abc" }, "pullRequest.headSHA"},
		{"pr without ref", event.PRClosed, func(e *event.Event) { e.Ref = "" }, "ref"},
		{"comment without number", event.PRComment, func(e *event.Event) { e.PullRequest.Number = -1 }, "pullRequest.number"},
		{"ping with ftp url", event.Ping, func(e *event.Event) { e.RepoURL = "ftp://x/y.git" }, "repoURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := valid(tt.kind)
			tt.edit(&ev)
			err := ev.Validate()
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "invalid event: "+tt.field+" ") {
				t.Errorf("Validate = %q, want it to name %s", err, tt.field)
			}
		})
	}
}

func TestValidateAllowsWhatProvidersSend(t *testing.T) {
	tests := []struct {
		name string
		kind event.Kind
		edit func(*event.Event)
	}{
		{"organization ping", event.Ping, func(e *event.Event) { e.RepoURL = ""; e.RepoFullName = "octo" }},
		{"abbreviated pr head", event.PROpened, func(e *event.Event) { e.PullRequest.HeadSHA = "ed0e0bfd9a94"; e.After = "" }},
		{"sha-256 repository", event.Push, func(e *event.Event) { e.After = strings.Repeat("ab", 32) }},
		{"branch created without before", event.BranchCreate, func(e *event.Event) { e.Before = "" }},
		{"comment without head", event.PRComment, func(e *event.Event) { *e.PullRequest = event.PullRequest{Number: 3} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := valid(tt.kind)
			tt.edit(&ev)
			if err := ev.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	tests := []struct {
		name                  string
		ev                    event.Event
		branch, tag, revision string
	}{
		{"branch push", valid(event.Push), "main", "", sha2},
		{"tag", valid(event.Tag), "", "v1.0.0", sha2},
		{"branch delete", valid(event.BranchDelete), "main", "", ""},
		{"pull request", valid(event.PROpened), "", "", sha2},
		{"ping", valid(event.Ping), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ev.Branch(); got != tt.branch {
				t.Errorf("Branch = %q, want %q", got, tt.branch)
			}
			if got := tt.ev.Tag(); got != tt.tag {
				t.Errorf("Tag = %q, want %q", got, tt.tag)
			}
			if got := tt.ev.Revision(); got != tt.revision {
				t.Errorf("Revision = %q, want %q", got, tt.revision)
			}
		})
	}
	for _, s := range []string{"", event.ZeroSHA, strings.Repeat("0", 64)} {
		if !event.IsZeroSHA(s) {
			t.Errorf("IsZeroSHA(%q) = false", s)
		}
	}
	if event.IsZeroSHA(sha1) {
		t.Errorf("IsZeroSHA(%q) = true", sha1)
	}
	if got := event.TruncateComment("ok\xff"); got != "ok\uFFFD" {
		t.Errorf("TruncateComment kept invalid UTF-8: %q", got)
	}
	var ig error = event.Ignore("why")
	if !errors.Is(ig, event.ErrIgnored) || ig.Error() != "ignored: why" {
		t.Errorf("Ignore = %v, not an ErrIgnored", ig)
	}
}

func TestKey(t *testing.T) {
	ev := valid(event.Push)
	if ev.Key() != ev.DeliveryID {
		t.Errorf("Key = %q without a DedupKey, want the delivery id %q", ev.Key(), ev.DeliveryID)
	}
	ev.DedupKey = ev.ChangeKey("")
	if ev.Key() != ev.DedupKey || ev.Key() == ev.DeliveryID {
		t.Errorf("Key = %q with DedupKey %q, want the DedupKey", ev.Key(), ev.DedupKey)
	}
}

// TestChangeKey proves that ChangeKey tells apart exactly the changes it documents: whatever
// else two events differ in (their delivery id, author, receive time, body), the same change has
// the same key.
func TestChangeKey(t *testing.T) {
	base := map[event.Kind]string{}
	for _, k := range []event.Kind{event.Push, event.Tag, event.BranchCreate, event.BranchDelete, event.PROpened, event.PRUpdated, event.PRComment} {
		base[k] = valid(k).ChangeKey("1")
	}
	tests := []struct {
		name string
		kind event.Kind
		edit func(*event.Event)
		// comment is the comment id passed to ChangeKey.
		comment string
		same    bool
	}{
		{name: "another delivery of the push", kind: event.Push, same: true, edit: func(e *event.Event) {
			e.DeliveryID, e.Author, e.BodySHA256 = "other", "someone", event.BodyDigest([]byte("x"))
			e.ReceivedAt = e.ReceivedAt.Add(time.Hour)
		}},
		{name: "upper-case commits", kind: event.Push, same: true, edit: func(e *event.Event) { e.After = strings.ToUpper(e.After) }},
		{name: "push of another commit", kind: event.Push, edit: func(e *event.Event) { e.After = sha1 }},
		{name: "push from another commit", kind: event.Push, edit: func(e *event.Event) { e.Before = sha2 }},
		{name: "test delivery, before == after", kind: event.Push, edit: func(e *event.Event) { e.Before = e.After }},
		{name: "push to another branch", kind: event.Push, edit: func(e *event.Event) { e.Ref = "refs/heads/dev" }},
		{name: "push to another repository", kind: event.Push, edit: func(e *event.Event) { e.RepoFullName = "octo/other" }},
		{name: "tag of the same commit", kind: event.Push, edit: func(e *event.Event) { e.Kind, e.Ref = event.Tag, "refs/tags/v1.0.0" }},
		{name: "branch created, zero before", kind: event.BranchCreate, same: true, edit: func(e *event.Event) { e.Before = "" }},
		{name: "branch created, short zero before", kind: event.BranchCreate, same: true, edit: func(e *event.Event) { e.Before = "0000000" }},
		{name: "branch deleted, empty after", kind: event.BranchDelete, same: true, edit: func(e *event.Event) { e.After = "" }},
		{name: "pull request event resent", kind: event.PROpened, same: true, edit: func(e *event.Event) { e.DeliveryID = "other" }},
		{name: "pull request of another head", kind: event.PROpened, edit: func(e *event.Event) { e.PullRequest.HeadSHA = sha1 }},
		{name: "another pull request", kind: event.PROpened, edit: func(e *event.Event) { e.PullRequest.Number = 8 }},
		{name: "another pull request action", kind: event.PROpened, edit: func(e *event.Event) { e.Kind = event.PRReopened }},
		{name: "pull request updated from another base", kind: event.PRUpdated, same: true, edit: func(e *event.Event) { e.PullRequest.BaseSHA = sha2 }},
		{name: "comment resent", kind: event.PRComment, comment: "1", same: true, edit: func(e *event.Event) { e.DeliveryID = "other" }},
		{name: "another comment", kind: event.PRComment, comment: "2", edit: func(e *event.Event) {}},
		{name: "comment edited", kind: event.PRComment, comment: "1", same: true, edit: func(e *event.Event) { e.Comment = "/retest" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := valid(tt.kind)
			tt.edit(&ev)
			comment := tt.comment
			if comment == "" {
				comment = "1"
			}
			got := ev.ChangeKey(comment)
			if !strings.HasPrefix(got, "change-") || len(got) != len("change-")+40 {
				t.Errorf("ChangeKey = %q, want change- and 40 hex digits", got)
			}
			if (got == base[tt.kind]) != tt.same {
				t.Errorf("ChangeKey = %q, base %q: same = %v, want %v", got, base[tt.kind], got == base[tt.kind], tt.same)
			}
		})
	}
}
