package gitlab

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"slipway.dev/slipway/webhooks/event"
)

// The payload types hold only the fields Slipway reads; GitLab sends many more. Timestamps are
// never decoded: GitLab's own examples carry malformed ones.

type project struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
}

// repository is the older, deprecated copy of project that GitLab still sends.
type repository struct {
	GitHTTPURL string `json:"git_http_url"`
}

type user struct {
	Username string `json:"username"`
}

func (u *user) username() string {
	if u == nil {
		return ""
	}
	return u.Username
}

type pushPayload struct {
	ObjectKind   string      `json:"object_kind"`
	Ref          string      `json:"ref"`
	Before       string      `json:"before"`
	After        string      `json:"after"`
	UserUsername string      `json:"user_username"`
	Project      *project    `json:"project"`
	Repository   *repository `json:"repository"`
}

// mergeRequest is the object_attributes of a merge request event and the merge_request of a note
// event.
type mergeRequest struct {
	IID             int64    `json:"iid"`
	SourceBranch    string   `json:"source_branch"`
	TargetBranch    string   `json:"target_branch"`
	SourceProjectID int64    `json:"source_project_id"`
	TargetProjectID int64    `json:"target_project_id"`
	Source          *project `json:"source"`
	Target          *project `json:"target"`
	LastCommit      *struct {
		ID string `json:"id"`
	} `json:"last_commit"`
	// Action and OldRev are sent on merge request events only. OldRev is the previous head, and
	// is present only when the update pushed commits.
	Action string `json:"action"`
	OldRev string `json:"oldrev"`
}

type mergeRequestPayload struct {
	ObjectKind       string        `json:"object_kind"`
	User             *user         `json:"user"`
	Project          *project      `json:"project"`
	Repository       *repository   `json:"repository"`
	ObjectAttributes *mergeRequest `json:"object_attributes"`
}

type notePayload struct {
	ObjectKind       string      `json:"object_kind"`
	User             *user       `json:"user"`
	Project          *project    `json:"project"`
	Repository       *repository `json:"repository"`
	ObjectAttributes *struct {
		ID           int64  `json:"id"`
		Note         string `json:"note"`
		NoteableType string `json:"noteable_type"`
		Action       string `json:"action"`
		System       bool   `json:"system"`
	} `json:"object_attributes"`
	MergeRequest *mergeRequest `json:"merge_request"`
}

// decode reads the body of a typ delivery into v, which has an ObjectKind that must agree with typ
// when GitLab sends it.
func decode(body []byte, typ string, v any, objectKind *string) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: decode %s payload: %v", event.ErrMalformed, typ, err)
	}
	if want := objectKinds[typ]; *objectKind != "" && *objectKind != want {
		return fmt.Errorf("%w: %s payload has object_kind %q, want %q", event.ErrMalformed, typ, truncate(*objectKind, 64), want)
	}
	return nil
}

// repoOf names the repository a delivery is about: the project (the target project of a merge
// request), whose path_with_namespace has as many segments as the project has parent groups.
func repoOf(p *project, r *repository) (event.Repo, error) {
	var repo event.Repo
	if p != nil {
		repo = event.Repo{FullName: p.PathWithNamespace, URL: p.GitHTTPURL}
	}
	if repo.URL == "" && r != nil {
		repo.URL = r.GitHTTPURL
	}
	if repo.FullName == "" || repo.URL == "" {
		return event.Repo{}, fmt.Errorf("%w: payload has no project path_with_namespace and git_http_url", event.ErrMalformed)
	}
	return repo, nil
}

func withRepo(ev *event.Event, p *project, r *repository) error {
	repo, err := repoOf(p, r)
	if err != nil {
		return err
	}
	ev.RepoFullName, ev.RepoURL = repo.FullName, repo.URL
	return nil
}

// mergeRequestRef is GitLab's ref for a merge request's head, fetchable from the target project
// even when the source branch lives in a fork.
func mergeRequestRef(iid int64) string {
	return "refs/merge-requests/" + strconv.FormatInt(iid, 10) + "/head"
}

// parsePush reads Push Hook and Tag Push Hook deliveries, which share one body format.
func parsePush(typ string, body []byte) (event.Event, error) {
	var p pushPayload
	if err := decode(body, typ, &p, &p.ObjectKind); err != nil {
		return event.Event{}, err
	}
	ev := event.Event{Ref: p.Ref, Before: p.Before, After: p.After, Author: p.UserUsername}
	if err := withRepo(&ev, p.Project, p.Repository); err != nil {
		return event.Event{}, err
	}
	deleted := p.After != "" && event.IsZeroSHA(p.After)
	created := p.Before != "" && event.IsZeroSHA(p.Before)
	isTag, isBranch := strings.HasPrefix(p.Ref, event.TagPrefix), strings.HasPrefix(p.Ref, event.BranchPrefix)
	switch {
	case p.Ref == "":
		return event.Event{}, fmt.Errorf("%w: %s payload has no ref", event.ErrMalformed, typ)
	case isTag != (typ == eventTagPush) && (isTag || isBranch):
		return event.Event{}, fmt.Errorf("%w: %s payload names ref %q", event.ErrMalformed, typ, truncate(p.Ref, 64))
	case isTag:
		if deleted {
			// Nothing can be built from a deleted tag; releases already made from it stay.
			return event.Event{}, event.Ignore("tag deleted")
		}
		ev.Kind = event.Tag
	case isBranch:
		switch {
		case deleted:
			ev.Kind = event.BranchDelete
			ev.After = event.ZeroSHA
		case created:
			ev.Kind = event.BranchCreate
		default:
			ev.Kind = event.Push
		}
	default:
		return event.Event{}, event.Ignore("push to a ref that is neither a branch nor a tag")
	}
	return ev, nil
}

// mergeRequestKind maps a merge request event's action to a kind. An update is a new head only
// when it carries oldrev; title, label, draft and reviewer changes are updates too, and build
// nothing new.
func mergeRequestKind(action, oldRev string) (event.Kind, error) {
	switch action {
	case "open":
		return event.PROpened, nil
	case "update":
		if oldRev == "" {
			return "", event.Ignore("merge request update without new commits")
		}
		return event.PRUpdated, nil
	case "merge":
		return event.PRMerged, nil
	case "close":
		return event.PRClosed, nil
	case "reopen":
		return event.PRReopened, nil
	}
	return "", event.Ignore(fmt.Sprintf("merge request action %q is not used", truncate(action, 64)))
}

func parseMergeRequest(body []byte) (event.Event, error) {
	var p mergeRequestPayload
	if err := decode(body, eventMergeRequest, &p, &p.ObjectKind); err != nil {
		return event.Event{}, err
	}
	mr := p.ObjectAttributes
	if mr == nil {
		return event.Event{}, fmt.Errorf("%w: merge request payload has no object_attributes", event.ErrMalformed)
	}
	kind, err := mergeRequestKind(mr.Action, mr.OldRev)
	if err != nil {
		return event.Event{}, err
	}
	ev, err := pullRequestEvent(kind, mr)
	if err != nil {
		return event.Event{}, err
	}
	ev.Before = mr.OldRev
	ev.Author = p.User.username()
	if err := withRepo(&ev, p.Project, p.Repository); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

// pullRequestEvent fills what a merge request event and a comment on one share.
func pullRequestEvent(kind event.Kind, mr *mergeRequest) (event.Event, error) {
	if mr.IID <= 0 {
		return event.Event{}, fmt.Errorf("%w: merge request has no iid", event.ErrMalformed)
	}
	var head string
	if mr.LastCommit != nil {
		head = mr.LastCommit.ID
	}
	return event.Event{
		Kind:  kind,
		Ref:   mergeRequestRef(mr.IID),
		After: head,
		PullRequest: &event.PullRequest{
			Number:  mr.IID,
			HeadRef: mr.SourceBranch,
			HeadSHA: head,
			BaseRef: mr.TargetBranch,
			Fork:    isFork(mr),
		},
	}, nil
}

// isFork reports whether a merge request's source lives outside its target project. A source that
// cannot be told apart from the target counts as a fork: nothing vouches for it.
func isFork(mr *mergeRequest) bool {
	if mr.SourceProjectID != 0 && mr.TargetProjectID != 0 {
		return mr.SourceProjectID != mr.TargetProjectID
	}
	if mr.Source != nil && mr.Target != nil && mr.Source.PathWithNamespace != "" {
		return !strings.EqualFold(mr.Source.PathWithNamespace, mr.Target.PathWithNamespace)
	}
	return true
}

// parseNote reads a Note Hook delivery and returns the note's id too, for derivedDeliveryID.
func parseNote(body []byte) (event.Event, int64, error) {
	var p notePayload
	if err := decode(body, eventNote, &p, &p.ObjectKind); err != nil {
		return event.Event{}, 0, err
	}
	note := p.ObjectAttributes
	if note == nil {
		return event.Event{}, 0, fmt.Errorf("%w: note payload has no object_attributes", event.ErrMalformed)
	}
	switch {
	case note.NoteableType != "MergeRequest":
		return event.Event{}, 0, event.Ignore(fmt.Sprintf("comment on a %q, not a merge request", truncate(note.NoteableType, 64)))
	case note.System:
		// GitLab writes system notes itself ("added 1 commit"); they are nobody's command.
		return event.Event{}, 0, event.Ignore("system note")
	case note.Action != "" && note.Action != "create":
		// Commands run once, when written; editing a comment does not re-run them. Older GitLab
		// sends no action, and only for new notes.
		return event.Event{}, 0, event.Ignore(fmt.Sprintf("note action %q is not used", truncate(note.Action, 64)))
	case p.MergeRequest == nil:
		return event.Event{}, 0, fmt.Errorf("%w: note on a merge request has no merge_request", event.ErrMalformed)
	}
	ev, err := pullRequestEvent(event.PRComment, p.MergeRequest)
	if err != nil {
		return event.Event{}, 0, err
	}
	ev.Comment = event.TruncateComment(note.Note)
	ev.Author = p.User.username()
	if err := withRepo(&ev, p.Project, p.Repository); err != nil {
		return event.Event{}, 0, err
	}
	return ev, note.ID, nil
}

// derivedDeliveryID names a delivery that carries no id header (older GitLab sends none) by what
// it says: a SHA-256 over the normalized event's fields and, for a comment, the note's id. A
// redelivery normalizes to the same event, so it gets the same id and is recorded once, even when
// its body differs in fields Slipway does not read (timestamps, counters). The cost is that two
// deliveries that normalize alike (a merge request closed, reopened and closed again at one head
// by one user) are taken for one.
func derivedDeliveryID(ev event.Event, noteID int64) string {
	fields := []string{string(ev.Kind), ev.RepoFullName, ev.RepoURL, ev.Ref, ev.Before, ev.After,
		ev.Author, ev.Comment, strconv.FormatInt(noteID, 10)}
	if pr := ev.PullRequest; pr != nil {
		fields = append(fields, strconv.FormatInt(pr.Number, 10), pr.HeadRef, pr.HeadSHA, pr.BaseRef,
			pr.BaseSHA, strconv.FormatBool(pr.Fork))
	}
	h := sha256.New()
	for _, f := range fields {
		// Length-prefixed, so that no two field lists hash the same bytes.
		h.Write([]byte(strconv.Itoa(len(f)) + ":" + f))
	}
	return "derived-" + hex.EncodeToString(h.Sum(nil)[:16])
}
