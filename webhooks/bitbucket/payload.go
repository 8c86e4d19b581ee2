package bitbucket

import (
	"encoding/json"
	"fmt"
	"strings"

	"slipway.dev/slipway/webhooks/event"
)

// The payload types hold only the fields Slipway reads; Bitbucket sends many more.

type link struct {
	Href string `json:"href"`
}

type repository struct {
	FullName string `json:"full_name"`
	UUID     string `json:"uuid"`
	Links    struct {
		HTML link `json:"html"`
	} `json:"links"`
}

// cloneURL is the repository's https clone URL: its web page with ".git", as Bitbucket shows it.
func (r *repository) cloneURL() string {
	if r.Links.HTML.Href == "" {
		return ""
	}
	return strings.TrimSuffix(r.Links.HTML.Href, "/") + ".git"
}

func (r *repository) identity() event.Repo {
	return event.Repo{FullName: r.FullName, URL: r.cloneURL()}
}

// account is a Bitbucket user. Since 2019 Bitbucket sends no username; nickname and display_name
// are chosen by the user and not unique, so they must not stand for who did something.
type account struct {
	AccountID string `json:"account_id"`
	UUID      string `json:"uuid"`
	Username  string `json:"username"`
}

// id returns the account's unique, stable id: its Atlassian account id, else its uuid, else the
// legacy username.
func (a *account) id() string {
	switch {
	case a == nil:
		return ""
	case a.AccountID != "":
		return a.AccountID
	case a.UUID != "":
		return a.UUID
	}
	return a.Username
}

type commit struct {
	Hash string `json:"hash"`
}

type refState struct {
	Type   string `json:"type"` // branch or tag (named_branch and bookmark were Mercurial's)
	Name   string `json:"name"`
	Target commit `json:"target"`
}

type pushPayload struct {
	Push *struct {
		Changes []struct {
			Old *refState `json:"old"`
			New *refState `json:"new"`
		} `json:"changes"`
	} `json:"push"`
	Repository *repository `json:"repository"`
	Actor      *account    `json:"actor"`
}

type prEnd struct {
	Branch struct {
		Name string `json:"name"`
	} `json:"branch"`
	Commit     *commit     `json:"commit"`
	Repository *repository `json:"repository"`
}

func (e prEnd) hash() string {
	if e.Commit == nil {
		return ""
	}
	return e.Commit.Hash
}

type pullRequest struct {
	ID          int64 `json:"id"`
	Source      prEnd `json:"source"`
	Destination prEnd `json:"destination"`
}

type pullRequestPayload struct {
	PullRequest *pullRequest `json:"pullrequest"`
	Comment     *struct {
		ID      int64 `json:"id"`
		Content struct {
			Raw string `json:"raw"`
		} `json:"content"`
		User *account `json:"user"`
	} `json:"comment"`
	Repository *repository `json:"repository"`
	Actor      *account    `json:"actor"`
}

func decode(payload []byte, key string, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: decode %s payload: %v", event.ErrMalformed, key, err)
	}
	return nil
}

// withRepo fills the repository fields of ev, which every event needs.
func withRepo(ev *event.Event, key string, r *repository) error {
	if r == nil || r.FullName == "" || r.cloneURL() == "" {
		return fmt.Errorf("%w: %s payload has no repository full_name and links.html", event.ErrMalformed, key)
	}
	id := r.identity()
	ev.RepoFullName, ev.RepoURL = id.FullName, id.URL
	return nil
}

// parsePush returns one event per branch or tag the push changes. Deleted tags are skipped, and
// so are ref types other than branch and tag (Mercurial's named_branch and bookmark).
func parsePush(payload []byte) ([]event.Event, error) {
	var p pushPayload
	if err := decode(payload, eventPush, &p); err != nil {
		return nil, err
	}
	if p.Push == nil {
		return nil, fmt.Errorf("%w: repo:push payload has no push", event.ErrMalformed)
	}
	base := event.Event{Author: p.Actor.id()}
	if err := withRepo(&base, eventPush, p.Repository); err != nil {
		return nil, err
	}
	var evs []event.Event
	tagsDeleted := 0
	for i, c := range p.Push.Changes {
		ref := c.New
		if ref == nil {
			ref = c.Old
		}
		if ref == nil || (ref.Type != "branch" && ref.Type != "tag") {
			continue
		}
		if ref.Name == "" {
			return nil, fmt.Errorf("%w: repo:push change %d has no ref name", event.ErrMalformed, i)
		}
		if ref.Type == "tag" && c.New == nil {
			// Nothing can be built from a deleted tag; releases already made from it stay.
			tagsDeleted++
			continue
		}
		evs = append(evs, pushChange(base, c.Old, c.New, ref))
	}
	switch {
	case len(evs) > 0:
		return evs, nil
	case tagsDeleted > 0:
		return nil, event.Ignore("tag deleted")
	}
	return nil, event.Ignore("push changes no branch or tag")
}

// pushChange is the event of one ref change: ref is New, or Old for a deleted branch.
func pushChange(base event.Event, old, new, ref *refState) event.Event {
	ev := base
	if old != nil {
		ev.Before = old.Target.Hash
	}
	if new != nil {
		ev.After = new.Target.Hash
	}
	switch {
	case ref.Type == "tag":
		ev.Kind, ev.Ref = event.Tag, event.TagPrefix+ref.Name
	case new == nil:
		ev.Kind, ev.Ref, ev.After = event.BranchDelete, event.BranchPrefix+ref.Name, event.ZeroSHA
	case old == nil:
		ev.Kind, ev.Ref = event.BranchCreate, event.BranchPrefix+ref.Name
	default:
		ev.Kind, ev.Ref = event.Push, event.BranchPrefix+ref.Name
	}
	return ev
}

// prKinds maps the pull request event keys to the kind of event they are.
var prKinds = map[string]event.Kind{
	eventPRCreated:   event.PROpened,
	eventPRUpdated:   event.PRUpdated,
	eventPRFulfilled: event.PRMerged,
	eventPRRejected:  event.PRClosed,
}

// parsePullRequest reads the pullrequest:* events other than comments. Bitbucket sends 12-digit
// abbreviated commit hashes here; they are kept as sent, and a checkout must resolve them.
func parsePullRequest(key string, payload []byte) (event.Event, error) {
	var p pullRequestPayload
	if err := decode(payload, key, &p); err != nil {
		return event.Event{}, err
	}
	if p.PullRequest == nil {
		return event.Event{}, fmt.Errorf("%w: %s payload has no pullrequest", event.ErrMalformed, key)
	}
	ev := prEvent(prKinds[key], p.PullRequest, p.Repository)
	ev.Author = p.Actor.id()
	if err := withRepo(&ev, key, p.Repository); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

func parseComment(payload []byte) (event.Event, int64, error) {
	var p pullRequestPayload
	if err := decode(payload, eventPRCommentAdded, &p); err != nil {
		return event.Event{}, 0, err
	}
	if p.PullRequest == nil || p.Comment == nil {
		return event.Event{}, 0, fmt.Errorf("%w: %s payload has no pullrequest or comment", event.ErrMalformed, eventPRCommentAdded)
	}
	ev := prEvent(event.PRComment, p.PullRequest, p.Repository)
	ev.Comment = event.TruncateComment(p.Comment.Content.Raw)
	ev.Author = p.Comment.User.id()
	if ev.Author == "" {
		ev.Author = p.Actor.id()
	}
	if err := withRepo(&ev, eventPRCommentAdded, p.Repository); err != nil {
		return event.Event{}, 0, err
	}
	return ev, p.Comment.ID, nil
}

// prEvent builds a pr-* event. Bitbucket Cloud keeps no ref for a pull request in the destination
// repository, so Ref is the source branch; for a fork that branch lives in the fork, not in
// RepoURL, and only HeadSHA identifies what to build.
func prEvent(kind event.Kind, pr *pullRequest, repo *repository) event.Event {
	ev := event.Event{
		Kind:  kind,
		After: pr.Source.hash(),
		PullRequest: &event.PullRequest{
			Number:  pr.ID,
			HeadRef: pr.Source.Branch.Name,
			HeadSHA: pr.Source.hash(),
			BaseRef: pr.Destination.Branch.Name,
			BaseSHA: pr.Destination.hash(),
			Fork:    isFork(pr.Source.Repository, pr.Destination.Repository, repo),
		},
	}
	if pr.Source.Branch.Name != "" {
		ev.Ref = event.BranchPrefix + pr.Source.Branch.Name
	}
	return ev
}

// isFork reports whether a pull request's source lives outside its destination repository: their
// full names or uuids differ. A source whose repository is unknown (deleted) counts as a fork:
// nothing vouches for it.
func isFork(source, destination, repo *repository) bool {
	if destination == nil {
		destination = repo
	}
	if source == nil || destination == nil || source.FullName == "" {
		return true
	}
	if source.UUID != "" && destination.UUID != "" && source.UUID != destination.UUID {
		return true
	}
	return !strings.EqualFold(source.FullName, destination.FullName)
}
