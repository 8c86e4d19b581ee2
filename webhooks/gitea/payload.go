package gitea

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"slipway.dev/slipway/webhooks/event"
)

// The payload types hold only the fields Slipway reads; Gitea sends many more.

type repository struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

// user is a Gitea account. Older servers send only username, newer ones login as well.
type user struct {
	Login    string `json:"login"`
	Username string `json:"username"`
}

func (u *user) login() string {
	switch {
	case u == nil:
		return ""
	case u.Login != "":
		return u.Login
	}
	return u.Username
}

type pushPayload struct {
	Ref        string      `json:"ref"`
	Before     string      `json:"before"`
	After      string      `json:"after"`
	Repository *repository `json:"repository"`
	Pusher     *user       `json:"pusher"`
	Sender     *user       `json:"sender"`
}

// refPayload is the body of create and delete events. Ref is the short name; SHA is sent on
// create by current servers only, and never on delete.
type refPayload struct {
	Ref        string      `json:"ref"`
	RefType    string      `json:"ref_type"`
	SHA        string      `json:"sha"`
	Repository *repository `json:"repository"`
	Sender     *user       `json:"sender"`
}

type prBranch struct {
	Ref    string      `json:"ref"`
	SHA    string      `json:"sha"`
	RepoID int64       `json:"repo_id"`
	Repo   *repository `json:"repo"`
}

type pullRequestPayload struct {
	Action      string `json:"action"`
	Number      int64  `json:"number"`
	PullRequest *struct {
		Number int64    `json:"number"`
		Merged bool     `json:"merged"`
		Head   prBranch `json:"head"`
		Base   prBranch `json:"base"`
	} `json:"pull_request"`
	Repository *repository `json:"repository"`
	Sender     *user       `json:"sender"`
}

type commentPayload struct {
	Action string `json:"action"`
	// IsPull is set by current servers; older ones only fill issue.pull_request.
	IsPull bool `json:"is_pull"`
	Issue  *struct {
		Number      int64           `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
	} `json:"issue"`
	Comment *struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User *user  `json:"user"`
	} `json:"comment"`
	Repository *repository `json:"repository"`
	Sender     *user       `json:"sender"`
}

func decode(payload []byte, typ string, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: decode %s payload: %v", event.ErrMalformed, typ, err)
	}
	return nil
}

// withRepo fills the repository fields of ev, which every event needs.
func withRepo(ev *event.Event, typ string, r *repository) error {
	if r == nil || r.FullName == "" || r.CloneURL == "" {
		return fmt.Errorf("%w: %s payload has no repository full_name and clone_url", event.ErrMalformed, typ)
	}
	ev.RepoFullName = r.FullName
	ev.RepoURL = r.CloneURL
	return nil
}

// pullRef is the ref Gitea keeps in the base repository for a pull request's head, fork or not.
func pullRef(number int64) string {
	return "refs/pull/" + strconv.FormatInt(number, 10) + "/head"
}

func parsePush(payload []byte) (event.Event, error) {
	var p pushPayload
	if err := decode(payload, eventPush, &p); err != nil {
		return event.Event{}, err
	}
	author := p.Sender.login()
	if author == "" {
		author = p.Pusher.login()
	}
	ev := event.Event{Ref: p.Ref, Before: p.Before, After: p.After, Author: author}
	if err := withRepo(&ev, eventPush, p.Repository); err != nil {
		return event.Event{}, err
	}
	// Gitea's push body has no created/deleted flags: the zero SHA on one side says it.
	deleted := p.After != "" && event.IsZeroSHA(p.After)
	created := p.Before != "" && event.IsZeroSHA(p.Before)
	switch {
	case strings.HasPrefix(p.Ref, event.TagPrefix):
		if deleted {
			// Nothing can be built from a deleted tag; releases already made from it stay.
			return event.Event{}, event.Ignore("tag deleted")
		}
		ev.Kind = event.Tag
	case strings.HasPrefix(p.Ref, event.BranchPrefix):
		switch {
		case deleted:
			ev.Kind = event.BranchDelete
			ev.After = event.ZeroSHA
		case created:
			ev.Kind = event.BranchCreate
		default:
			ev.Kind = event.Push
		}
	case p.Ref == "":
		return event.Event{}, fmt.Errorf("%w: push payload has no ref", event.ErrMalformed)
	default:
		return event.Event{}, event.Ignore("push to a ref that is neither a branch nor a tag")
	}
	return ev, nil
}

// fullRef turns a create or delete event's short ref name into a full ref. Servers that already
// send the full ref are taken as they are.
func fullRef(refType, ref string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "refs/") {
		return ref, nil
	}
	switch refType {
	case "branch":
		return event.BranchPrefix + ref, nil
	case "tag":
		return event.TagPrefix + ref, nil
	}
	return "", event.Ignore(fmt.Sprintf("ref_type %q is not used", truncate(refType, 64)))
}

func parseRef(payload []byte, typ string) (refPayload, event.Event, error) {
	var p refPayload
	if err := decode(payload, typ, &p); err != nil {
		return p, event.Event{}, err
	}
	ref, err := fullRef(p.RefType, p.Ref)
	if err != nil {
		return p, event.Event{}, err
	}
	ev := event.Event{Ref: ref, Author: p.Sender.login()}
	if err := withRepo(&ev, typ, p.Repository); err != nil {
		return p, event.Event{}, err
	}
	switch {
	case strings.HasPrefix(ref, event.BranchPrefix), strings.HasPrefix(ref, event.TagPrefix):
		return p, ev, nil
	case ref == "":
		return p, event.Event{}, fmt.Errorf("%w: %s payload has no ref", event.ErrMalformed, typ)
	}
	return p, event.Event{}, event.Ignore(typ + " of a ref that is neither a branch nor a tag")
}

// parseCreate reads a create event. The same push also sends a push event whose before is the
// zero SHA; a server that subscribes a hook to both delivers the creation twice.
func parseCreate(payload []byte) (event.Event, error) {
	p, ev, err := parseRef(payload, eventCreate)
	if err != nil {
		return event.Event{}, err
	}
	if event.IsZeroSHA(p.SHA) {
		// Older servers (the drone/go-scm fixture's) omit the commit; their push event carries it.
		return event.Event{}, event.Ignore("create event names no commit; the push event reports it")
	}
	ev.After = p.SHA
	ev.Kind = event.BranchCreate
	if ev.Tag() != "" {
		ev.Kind = event.Tag
	}
	return ev, nil
}

// parseDelete reads a delete event. Gitea sends no commit with it, so a branch-delete from it has
// no Before.
func parseDelete(payload []byte) (event.Event, error) {
	_, ev, err := parseRef(payload, eventDelete)
	if err != nil {
		return event.Event{}, err
	}
	if ev.Tag() != "" {
		return event.Event{}, event.Ignore("tag deleted")
	}
	ev.Kind = event.BranchDelete
	ev.After = event.ZeroSHA
	return ev, nil
}

// prKind maps a pull_request action to the kind of event it is, or "" when Slipway does not act
// on it. Gitea spells the new-commits action synchronized; GitHub's synchronize is accepted too.
func prKind(action string, merged bool) event.Kind {
	switch action {
	case "opened":
		return event.PROpened
	case "synchronized", "synchronize":
		return event.PRUpdated
	case "reopened":
		return event.PRReopened
	case "closed":
		if merged {
			return event.PRMerged
		}
		return event.PRClosed
	}
	return ""
}

func parsePullRequest(payload []byte) (event.Event, error) {
	var p pullRequestPayload
	if err := decode(payload, eventPullRequest, &p); err != nil {
		return event.Event{}, err
	}
	pr := p.PullRequest
	if pr == nil {
		return event.Event{}, fmt.Errorf("%w: pull_request payload has no pull_request", event.ErrMalformed)
	}
	kind := prKind(p.Action, pr.Merged)
	if kind == "" {
		return event.Event{}, event.Ignore(fmt.Sprintf("pull_request action %q is not used", truncate(p.Action, 64)))
	}
	number := pr.Number
	if number == 0 {
		number = p.Number
	}
	ev := event.Event{
		Kind: kind,
		Ref:  pullRef(number),
		// Gitea sends no before/after with a pull request; the head is what was pushed.
		After:  pr.Head.SHA,
		Author: p.Sender.login(),
		PullRequest: &event.PullRequest{
			Number:  number,
			HeadRef: pr.Head.Ref,
			HeadSHA: pr.Head.SHA,
			BaseRef: pr.Base.Ref,
			BaseSHA: pr.Base.SHA,
			Fork:    isFork(pr.Head, pr.Base, p.Repository),
		},
	}
	if err := withRepo(&ev, eventPullRequest, p.Repository); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

// repoID is a branch's repository id, from repo_id or the embedded repository.
func (b prBranch) repoID() int64 {
	if b.RepoID != 0 {
		return b.RepoID
	}
	if b.Repo != nil {
		return b.Repo.ID
	}
	return 0
}

// isFork reports whether a pull request's head lives outside its base repository. A head whose
// repository is unknown (deleted) counts as a fork: nothing vouches for it.
func isFork(head, base prBranch, repo *repository) bool {
	headID, baseID := head.repoID(), base.repoID()
	if baseID == 0 && repo != nil {
		baseID = repo.ID
	}
	if headID != 0 && baseID != 0 {
		return headID != baseID
	}
	baseRepo := base.Repo
	if baseRepo == nil {
		baseRepo = repo
	}
	if head.Repo == nil || baseRepo == nil || head.Repo.FullName == "" {
		return true
	}
	return !strings.EqualFold(head.Repo.FullName, baseRepo.FullName)
}

// parseComment reads a comment on a pull request, and returns the comment's id beside it.
func parseComment(payload []byte) (event.Event, int64, error) {
	var p commentPayload
	if err := decode(payload, eventIssueComment, &p); err != nil {
		return event.Event{}, 0, err
	}
	if p.Issue == nil || p.Comment == nil {
		return event.Event{}, 0, fmt.Errorf("%w: issue_comment payload has no issue or comment", event.ErrMalformed)
	}
	if !p.IsPull && isNull(p.Issue.PullRequest) {
		return event.Event{}, 0, event.Ignore("comment on an issue, not a pull request")
	}
	if p.Action != "created" {
		// Commands run once, when written; editing or deleting a comment does not re-run them.
		return event.Event{}, 0, event.Ignore(fmt.Sprintf("issue_comment action %q is not used", truncate(p.Action, 64)))
	}
	author := p.Comment.User.login()
	if author == "" {
		author = p.Sender.login()
	}
	ev := event.Event{
		Kind:        event.PRComment,
		Ref:         pullRef(p.Issue.Number),
		PullRequest: &event.PullRequest{Number: p.Issue.Number},
		Comment:     event.TruncateComment(p.Comment.Body),
		Author:      author,
	}
	if err := withRepo(&ev, eventIssueComment, p.Repository); err != nil {
		return event.Event{}, 0, err
	}
	return ev, p.Comment.ID, nil
}

// isNull reports whether an optional JSON member was absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
