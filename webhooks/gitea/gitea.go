// Package gitea verifies and normalizes Gitea and Forgejo webhook deliveries, which share one
// body format and differ only in their headers.
//
// Gitea and Forgejo have no stable delivery id: every redelivery, automatic or from the hook's
// "Replay" button, carries a new X-Gitea-Delivery. Events are therefore deduplicated by the
// change they report (event.Event.DedupKey): pushes by (repository, ref, before, after, kind),
// pull request events by (repository, number, head commit, action), comments by their id. The
// delivery id is recorded beside, for reference.
package gitea

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/hmacsig"
)

// The headers Gitea sends with every delivery. Forgejo sends them too, beside its own.
const (
	HeaderEvent     = "X-Gitea-Event"
	HeaderEventType = "X-Gitea-Event-Type"
	HeaderDelivery  = "X-Gitea-Delivery"
	HeaderSignature = "X-Gitea-Signature"
)

// The headers Forgejo sends with every delivery.
const (
	HeaderForgejoEvent     = "X-Forgejo-Event"
	HeaderForgejoEventType = "X-Forgejo-Event-Type"
	HeaderForgejoDelivery  = "X-Forgejo-Delivery"
	HeaderForgejoSignature = "X-Forgejo-Signature"
)

// The event types Slipway acts on; every other event is ignored. Gitea names the event twice: a
// coarse X-Gitea-Event (pull_request, issue_comment) and a finer X-Gitea-Event-Type
// (pull_request_sync, pull_request_comment). Either is accepted.
const (
	eventPush               = "push"
	eventCreate             = "create"
	eventDelete             = "delete"
	eventPullRequest        = "pull_request"
	eventPullRequestSync    = "pull_request_sync"
	eventIssueComment       = "issue_comment"
	eventPullRequestComment = "pull_request_comment"
)

// Parser reads deliveries from one Gitea or Forgejo server. It holds no state that changes.
type Parser struct {
	provider event.Provider
	// Each list is read in order; the first header present wins.
	eventHeaders     []string
	deliveryHeaders  []string
	signatureHeaders []string
}

// New returns a Parser for Gitea deliveries, whose events are reported as event.Gitea.
func New() *Parser {
	return &Parser{
		provider:         event.Gitea,
		eventHeaders:     []string{HeaderEvent, HeaderEventType},
		deliveryHeaders:  []string{HeaderDelivery},
		signatureHeaders: []string{HeaderSignature},
	}
}

// NewForgejo returns a Parser for Forgejo deliveries, whose events are reported as
// event.Forgejo. It reads Forgejo's headers and falls back to the Gitea ones Forgejo also sends.
func NewForgejo() *Parser {
	return &Parser{
		provider:         event.Forgejo,
		eventHeaders:     []string{HeaderForgejoEvent, HeaderEvent, HeaderForgejoEventType, HeaderEventType},
		deliveryHeaders:  []string{HeaderForgejoDelivery, HeaderDelivery},
		signatureHeaders: []string{HeaderForgejoSignature, HeaderSignature},
	}
}

// Provider returns the provider the Parser's events are reported as.
func (p *Parser) Provider() event.Provider { return p.provider }

// first returns the name and value of the first header of names that is set.
func first(header http.Header, names []string) (name, value string) {
	for _, n := range names {
		if v := header.Get(n); v != "" {
			return n, v
		}
	}
	return names[0], ""
}

// Identify returns the delivery id and the repository a delivery is about, reading only the media
// type, the event and delivery headers and the body's repository. It returns an
// *event.IgnoredError for event types Slipway does not act on, decided on the headers alone.
func (p *Parser) Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error) {
	_, deliveryID = first(header, p.deliveryHeaders)
	if err := checkContentType(header); err != nil {
		return deliveryID, event.Repo{}, err
	}
	if _, err := p.eventType(header); err != nil {
		return deliveryID, event.Repo{}, err
	}
	var id struct {
		Repository *repository `json:"repository"`
	}
	if err := json.Unmarshal(body, &id); err != nil {
		return deliveryID, event.Repo{}, fmt.Errorf("%w: decode payload: %v", event.ErrMalformed, err)
	}
	if id.Repository == nil || id.Repository.FullName == "" {
		return deliveryID, event.Repo{}, fmt.Errorf("%w: payload names no repository", event.ErrMalformed)
	}
	return deliveryID, event.Repo{FullName: id.Repository.FullName, URL: id.Repository.CloneURL}, nil
}

// Verify checks the signature header, the bare hex HMAC-SHA256 of the raw body, against each
// secret in constant time; several secrets let a secret be rotated without dropping deliveries.
// Empty secrets are skipped. The prefixed X-Hub-Signature-256 that newer servers also send is not
// read: it carries the same value.
func (p *Parser) Verify(header http.Header, body []byte, secrets [][]byte) error {
	name, sig := first(header, p.signatureHeaders)
	return hmacsig.Verify(name, sig, "", body, secrets)
}

// Sign returns the X-Gitea-Signature (and X-Forgejo-Signature) value sent for body signed with
// secret.
func Sign(secret, body []byte) string { return hmacsig.Sign("", secret, body) }

// Parse normalizes a verified delivery. It returns an error wrapping event.ErrMalformed when the
// body cannot be read, and an *event.IgnoredError for deliveries Slipway does not act on (a comment
// on a plain issue, a deleted tag, a pull request label change, ...). It leaves ReceivedAt and
// BodySHA256 for the receiver. A delivery reports one event.
//
// DeliveryID is the X-Gitea-Delivery (X-Forgejo-Delivery) header, kept for reference only: a
// redelivery from the hook's "Replay" button, like every retry, is a new hook task with a new
// delivery id. The event's DedupKey is therefore derived from the change it reports (see
// event.Event.ChangeKey): a push by its repository, ref, before and after commits; a pull request
// event by its number, head commit and action; a comment by its id. A replayed delivery is then
// a duplicate, and a "Test Delivery" (a push whose before and after are both the branch's head)
// is its own event, which the trigger recognizes.
func (p *Parser) Parse(header http.Header, body []byte) ([]event.Event, error) {
	typ, err := p.eventType(header)
	if err != nil {
		return nil, err
	}
	if err := checkContentType(header); err != nil {
		return nil, err
	}
	var (
		ev        event.Event
		commentID int64
	)
	switch typ {
	case eventPush:
		ev, err = parsePush(body)
	case eventCreate:
		ev, err = parseCreate(body)
	case eventDelete:
		ev, err = parseDelete(body)
	case eventPullRequest:
		ev, err = parsePullRequest(body)
	case eventIssueComment:
		ev, commentID, err = parseComment(body)
	}
	if err != nil {
		return nil, err
	}
	ev.Provider = p.provider
	name, id := first(header, p.deliveryHeaders)
	if id == "" {
		return nil, fmt.Errorf("%w: no %s header", event.ErrMalformed, name)
	}
	ev.DeliveryID = id
	ev.DedupKey = ev.ChangeKey(strconv.FormatInt(commentID, 10))
	return []event.Event{ev}, nil
}

// eventType returns the event Slipway acts on, folding the finer event types into the coarse
// event they belong to.
func (p *Parser) eventType(header http.Header) (string, error) {
	name, typ := first(header, p.eventHeaders)
	switch typ {
	case eventPush, eventCreate, eventDelete, eventPullRequest:
		return typ, nil
	case eventPullRequestSync:
		return eventPullRequest, nil
	case eventIssueComment, eventPullRequestComment:
		return eventIssueComment, nil
	case "":
		return "", fmt.Errorf("%w: no %s header", event.ErrMalformed, name)
	}
	return "", event.Ignore(fmt.Sprintf("%s event %q is not used", p.provider, truncate(typ, 64)))
}

// checkContentType accepts JSON bodies only. Gitea's form-encoded hooks sign the JSON inside the
// form rather than the raw body, so they cannot be verified on the raw bytes; such hooks must be
// configured with the application/json content type.
func checkContentType(header http.Header) error {
	if enc := header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Errorf("%w: content encoding %q", event.ErrContentType, truncate(enc, 64))
	}
	ct := header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: content type %q", event.ErrContentType, truncate(ct, 64))
	}
	if mediaType != "application/json" {
		return fmt.Errorf("%w: content type %q (configure the hook to send application/json)",
			event.ErrContentType, truncate(mediaType, 64))
	}
	return nil
}

// truncate keeps header values echoed into errors short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
