// Package event defines the normalized webhook event that crosses from the webhook receiver to the
// rest of Slipway, whatever Git provider sent it.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Provider names the Git provider that sent a delivery. It is also the last path segment of the
// receiver's URL, /hooks/<provider>.
type Provider string

// The providers Slipway receives webhooks from.
const (
	GitHub    Provider = "github"
	GitLab    Provider = "gitlab"
	Gitea     Provider = "gitea"
	Forgejo   Provider = "forgejo"
	Bitbucket Provider = "bitbucket"
)

// Valid reports whether p is one of the known providers.
func (p Provider) Valid() bool {
	switch p {
	case GitHub, GitLab, Gitea, Forgejo, Bitbucket:
		return true
	}
	return false
}

// Kind is what happened, normalized across providers.
type Kind string

// The kinds of event Slipway acts on.
const (
	// Push moves an existing branch.
	Push Kind = "push"
	// Tag creates or moves a tag.
	Tag Kind = "tag"
	// BranchCreate creates a branch (Before is ZeroSHA or empty).
	BranchCreate Kind = "branch-create"
	// BranchDelete deletes a branch (After is ZeroSHA).
	BranchDelete Kind = "branch-delete"
	// PROpened opens a pull request.
	PROpened Kind = "pr-opened"
	// PRUpdated pushes new commits to a pull request's head.
	PRUpdated Kind = "pr-updated"
	// PRClosed closes a pull request without merging it.
	PRClosed Kind = "pr-closed"
	// PRMerged closes a pull request by merging it.
	PRMerged Kind = "pr-merged"
	// PRReopened reopens a closed pull request.
	PRReopened Kind = "pr-reopened"
	// PRComment adds a comment to a pull request (the source of commands such as /ok-to-test).
	PRComment Kind = "pr-comment"
	// Ping is the provider's test delivery, sent when a hook is created.
	Ping Kind = "ping"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case Push, Tag, BranchCreate, BranchDelete,
		PROpened, PRUpdated, PRClosed, PRMerged, PRReopened, PRComment, Ping:
		return true
	}
	return false
}

// IsPullRequest reports whether k is about a pull request (pr-*).
func (k Kind) IsPullRequest() bool { return strings.HasPrefix(string(k), "pr-") }

// ZeroSHA is the all-zero object name providers send for the missing side of a ref update: the
// Before of a created ref and the After of a deleted one.
const ZeroSHA = "0000000000000000000000000000000000000000"

// IsZeroSHA reports whether sha names no commit: empty, or all zeros (of any length, so that
// SHA-256 repositories' 64 zeros count too).
func IsZeroSHA(sha string) bool {
	return strings.Trim(sha, "0") == ""
}

// Ref prefixes of branches and tags.
const (
	BranchPrefix = "refs/heads/"
	TagPrefix    = "refs/tags/"
)

// MaxCommentRunes is the longest comment an Event carries; providers' parsers cut longer ones with
// TruncateComment so that a long comment is still recorded rather than rejected.
const MaxCommentRunes = 4096

// MaxDeliveryIDLen is the longest delivery id an Event carries.
const MaxDeliveryIDLen = 256

// Event is one webhook delivery, normalized. The provider's parser fills everything except
// ReceivedAt and BodySHA256, which the receiver stamps.
type Event struct {
	// Provider sent the delivery.
	Provider Provider `json:"provider"`
	// Kind is what happened.
	Kind Kind `json:"kind"`
	// DeliveryID is the provider's id for this delivery, kept for reference. GitHub and GitLab
	// send the same id again when a delivery is redelivered; Gitea, Forgejo and Bitbucket do not
	// (see DedupKey).
	DeliveryID string `json:"deliveryID"`
	// DedupKey, when set, names the change the event reports instead of the delivery that
	// carried it, for providers whose redeliveries carry a new delivery id: two events with the
	// same DedupKey are one, whatever their DeliveryID. ChangeKey computes it. Empty means
	// DeliveryID identifies the event (see Key).
	DedupKey string `json:"dedupKey,omitempty"`
	// RepoURL is the repository's http(s) clone URL (https for hosted providers; http for a
	// self-hosted or loopback Git server).
	RepoURL string `json:"repoURL,omitempty"`
	// RepoFullName is owner/name (group/subgroup/name on GitLab). For an organization-level ping
	// it is the organization alone.
	RepoFullName string `json:"repoFullName,omitempty"`
	// Ref is the full Git ref: refs/heads/<branch> or refs/tags/<tag> for ref events, the
	// provider's ref for the pull request's head (refs/pull/<n>/head on GitHub) for pr-* events.
	Ref string `json:"ref,omitempty"`
	// Before is the ref's previous commit; ZeroSHA or empty when the ref was created.
	Before string `json:"before,omitempty"`
	// After is the ref's new commit; ZeroSHA when the ref was deleted. For pr-* events it is the
	// pull request's head commit when the provider sends it.
	After string `json:"after,omitempty"`
	// PullRequest describes the pull request of pr-* events.
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
	// Comment is the comment body of pr-comment events, at most MaxCommentRunes long.
	Comment string `json:"comment,omitempty"`
	// Author is the login of the user who caused the event.
	Author string `json:"author,omitempty"`
	// ReceivedAt is when the receiver read the delivery.
	ReceivedAt time.Time `json:"receivedAt"`
	// BodySHA256 is the lower-case hex SHA-256 of the raw body, as signed by the provider.
	BodySHA256 string `json:"bodySHA256"`
	// Unsigned is true when the delivery carried no signature and was accepted only because
	// the repository's Application explicitly allows unsigned deliveries. The receiver sets it.
	Unsigned bool `json:"unsigned,omitempty"`
}

// PullRequest identifies a pull request and its head and base.
type PullRequest struct {
	// Number is the pull request's number in its base repository.
	Number int64 `json:"number"`
	// HeadRef is the source branch's short name.
	HeadRef string `json:"headRef,omitempty"`
	// HeadSHA is the source commit. Some providers send an abbreviated hash.
	HeadSHA string `json:"headSHA,omitempty"`
	// BaseRef is the target branch's short name.
	BaseRef string `json:"baseRef,omitempty"`
	// BaseSHA is the target branch's commit when the event was sent.
	BaseSHA string `json:"baseSHA,omitempty"`
	// Fork is true when the head lives in another repository (or one that no longer exists);
	// such pull requests are untrusted. It is false but unknown on pr-comment events whose
	// provider does not send the head (GitHub's issue_comment): look the pull request up before
	// trusting its head.
	Fork bool `json:"fork,omitempty"`
}

// Repo is the minimal identity of the repository a delivery is about, read before the delivery's
// signature is verified so that the right secrets can be looked up.
type Repo struct {
	// FullName is owner/name, or the owner alone for an organization-level hook.
	FullName string
	// URL is the https clone URL; empty for an organization-level hook.
	URL string
}

// Branch returns the branch name of a refs/heads/ Ref, or "" when Ref is not a branch.
func (e Event) Branch() string {
	if name, ok := strings.CutPrefix(e.Ref, BranchPrefix); ok {
		return name
	}
	return ""
}

// Tag returns the tag name of a refs/tags/ Ref, or "" when Ref is not a tag.
func (e Event) Tag() string {
	if name, ok := strings.CutPrefix(e.Ref, TagPrefix); ok {
		return name
	}
	return ""
}

// Revision returns the commit the event asks to build or preview: the pull request's head for pr-*
// events, After otherwise. It is "" when there is none (ping, branch-delete, a comment whose
// provider does not send the head).
func (e Event) Revision() string {
	if e.Kind.IsPullRequest() && e.PullRequest != nil && e.PullRequest.HeadSHA != "" {
		return e.PullRequest.HeadSHA
	}
	if IsZeroSHA(e.After) {
		return ""
	}
	return e.After
}

// Key returns what makes two deliveries the same event: DedupKey when the provider set one, else
// DeliveryID. The durable inbox records one event per provider and Key.
func (e Event) Key() string {
	if e.DedupKey != "" {
		return e.DedupKey
	}
	return e.DeliveryID
}

// ChangeKey returns the DedupKey of e for a provider without a stable delivery id: a digest of
// what identifies the change e reports, so that a redelivery of it (the same body resent under
// a new id) gets the same key and a different change a different one.
//
//   - pr-comment: the repository, pull request number and commentID (the provider's id of the
//     comment; each comment is its own event).
//   - other pr-* events: the kind, repository, pull request number and head commit.
//   - ref events (push, tag, branch-create, branch-delete): the kind, repository, ref, before
//     and after commits, a zero SHA counting as none. Before tells a provider's "test" delivery
//     (before == after) from the push it repeats, and a branch moved back to an earlier commit
//     from the move that first put it there; a redelivery repeats it byte for byte.
//
// The cost: two changes that agree on all of these are one event, for example a pull request
// closed, reopened and closed again at the same head, whose second close is taken for a
// redelivery of the first.
func (e Event) ChangeKey(commentID string) string {
	parts := []string{string(e.Kind), e.RepoFullName}
	switch {
	case e.Kind == PRComment:
		parts = append(parts, e.number(), commentID)
	case e.Kind.IsPullRequest():
		parts = append(parts, e.number(), e.Revision())
	default:
		parts = append(parts, e.Ref, nonZero(e.Before), nonZero(e.After))
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "change-" + hex.EncodeToString(h.Sum(nil))[:40]
}

func (e Event) number() string {
	if e.PullRequest == nil {
		return ""
	}
	return strconv.FormatInt(e.PullRequest.Number, 10)
}

// nonZero returns sha, or "" for a zero SHA.
func nonZero(sha string) string {
	if IsZeroSHA(sha) {
		return ""
	}
	return strings.ToLower(sha)
}

// Repo returns the event's repository identity.
func (e Event) Repo() Repo { return Repo{FullName: e.RepoFullName, URL: e.RepoURL} }

// BodyDigest returns the lower-case hex SHA-256 of a raw body, the form of BodySHA256.
func BodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// TruncateComment cuts s to MaxCommentRunes runes, replacing invalid UTF-8 so that the result is
// always valid.
func TruncateComment(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= MaxCommentRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxCommentRunes {
			return s[:i]
		}
		n++
	}
	return s
}
