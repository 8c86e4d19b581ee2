package github

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"slipway.dev/slipway/webhooks/event"
)

// The payload types hold only the fields Slipway reads; GitHub sends many more.

type repository struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

type user struct {
	Login string `json:"login"`
}

func (u *user) login() string {
	if u == nil {
		return ""
	}
	return u.Login
}

type pushPayload struct {
	Ref        string      `json:"ref"`
	Before     string      `json:"before"`
	After      string      `json:"after"`
	Created    bool        `json:"created"`
	Deleted    bool        `json:"deleted"`
	Repository *repository `json:"repository"`
	Sender     *user       `json:"sender"`
}

type prBranch struct {
	Ref  string      `json:"ref"`
	SHA  string      `json:"sha"`
	Repo *repository `json:"repo"`
}

type pullRequestPayload struct {
	Action      string `json:"action"`
	Number      int64  `json:"number"`
	Before      string `json:"before"`
	After       string `json:"after"`
	PullRequest *struct {
		Number int64    `json:"number"`
		Merged bool     `json:"merged"`
		Head   prBranch `json:"head"`
		Base   prBranch `json:"base"`
	} `json:"pull_request"`
	Repository *repository `json:"repository"`
	Sender     *user       `json:"sender"`
}

type issueCommentPayload struct {
	Action string `json:"action"`
	Issue  *struct {
		Number int64 `json:"number"`
		// PullRequest is present only when the issue is a pull request.
		PullRequest *struct {
			URL string `json:"url"`
		} `json:"pull_request"`
	} `json:"issue"`
	Comment *struct {
		Body string `json:"body"`
		User *user  `json:"user"`
	} `json:"comment"`
	Repository *repository `json:"repository"`
	Sender     *user       `json:"sender"`
}

type pingPayload struct {
	Repository   *repository `json:"repository"`
	Organization *user       `json:"organization"`
	Sender       *user       `json:"sender"`
}

func decode(payload []byte, typ string, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: decode %s payload: %v", event.ErrMalformed, typ, err)
	}
	return nil
}

// withRepo fills the repository fields of ev, which every event but an organization ping needs.
func withRepo(ev *event.Event, typ string, r *repository) error {
	if r == nil || r.FullName == "" || r.CloneURL == "" {
		return fmt.Errorf("%w: %s payload has no repository full_name and clone_url", event.ErrMalformed, typ)
	}
	ev.RepoFullName = r.FullName
	ev.RepoURL = r.CloneURL
	return nil
}

// pullRef is GitHub's ref for a pull request's head.
func pullRef(number int64) string {
	return "refs/pull/" + strconv.FormatInt(number, 10) + "/head"
}

func parsePing(payload []byte) (event.Event, error) {
	var p pingPayload
	if err := decode(payload, eventPing, &p); err != nil {
		return event.Event{}, err
	}
	ev := event.Event{Kind: event.Ping, Author: p.Sender.login()}
	switch {
	case p.Repository != nil:
		if err := withRepo(&ev, eventPing, p.Repository); err != nil {
			return event.Event{}, err
		}
	case p.Organization != nil && p.Organization.Login != "":
		ev.RepoFullName = p.Organization.Login
	default:
		return event.Event{}, fmt.Errorf("%w: ping payload names no repository or organization", event.ErrMalformed)
	}
	return ev, nil
}

func parsePush(payload []byte) (event.Event, error) {
	var p pushPayload
	if err := decode(payload, eventPush, &p); err != nil {
		return event.Event{}, err
	}
	ev := event.Event{Ref: p.Ref, Before: p.Before, After: p.After, Author: p.Sender.login()}
	if err := withRepo(&ev, eventPush, p.Repository); err != nil {
		return event.Event{}, err
	}
	deleted := p.Deleted || (p.After != "" && event.IsZeroSHA(p.After))
	created := p.Created || (p.Before != "" && event.IsZeroSHA(p.Before))
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

func parsePullRequest(payload []byte) (event.Event, error) {
	var p pullRequestPayload
	if err := decode(payload, eventPullRequest, &p); err != nil {
		return event.Event{}, err
	}
	pr := p.PullRequest
	if pr == nil {
		return event.Event{}, fmt.Errorf("%w: pull_request payload has no pull_request", event.ErrMalformed)
	}
	var kind event.Kind
	switch p.Action {
	case "opened":
		kind = event.PROpened
	case "synchronize":
		kind = event.PRUpdated
	case "reopened":
		kind = event.PRReopened
	case "closed":
		kind = event.PRClosed
		if pr.Merged {
			kind = event.PRMerged
		}
	default:
		return event.Event{}, event.Ignore(fmt.Sprintf("pull_request action %q is not used", truncate(p.Action, 64)))
	}
	number := pr.Number
	if number == 0 {
		number = p.Number
	}
	ev := event.Event{
		Kind:   kind,
		Ref:    pullRef(number),
		Before: p.Before,
		After:  p.After,
		Author: p.Sender.login(),
		PullRequest: &event.PullRequest{
			Number:  number,
			HeadRef: pr.Head.Ref,
			HeadSHA: pr.Head.SHA,
			BaseRef: pr.Base.Ref,
			BaseSHA: pr.Base.SHA,
			Fork:    isFork(pr.Head.Repo, pr.Base.Repo, p.Repository),
		},
	}
	if ev.After == "" {
		ev.After = pr.Head.SHA
	}
	if err := withRepo(&ev, eventPullRequest, p.Repository); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

// isFork reports whether a pull request's head lives outside its base repository. A head whose
// repository was deleted counts as a fork: nothing vouches for it.
func isFork(head, base, repo *repository) bool {
	if base == nil {
		base = repo
	}
	if head == nil || base == nil {
		return true
	}
	if head.ID != 0 && base.ID != 0 {
		return head.ID != base.ID
	}
	return !strings.EqualFold(head.FullName, base.FullName)
}

func parseIssueComment(payload []byte) (event.Event, error) {
	var p issueCommentPayload
	if err := decode(payload, eventIssueComment, &p); err != nil {
		return event.Event{}, err
	}
	if p.Issue == nil || p.Comment == nil {
		return event.Event{}, fmt.Errorf("%w: issue_comment payload has no issue or comment", event.ErrMalformed)
	}
	if p.Issue.PullRequest == nil {
		return event.Event{}, event.Ignore("comment on an issue, not a pull request")
	}
	if p.Action != "created" {
		// Commands run once, when written; editing or deleting a comment does not re-run them.
		return event.Event{}, event.Ignore(fmt.Sprintf("issue_comment action %q is not used", truncate(p.Action, 64)))
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
		return event.Event{}, err
	}
	return ev, nil
}
