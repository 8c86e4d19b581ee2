// Package bitbucket verifies and normalizes Bitbucket Cloud webhook deliveries.
//
// Bitbucket's X-Request-UUID is not documented as stable across its automatic retries (after a
// 5xx or a timeout) and its "Resend request" button, so events are deduplicated by the change
// they report (event.Event.DedupKey): each ref change of a push by (repository, ref, before,
// after, kind), pull request events by (repository, number, head commit, action), comments by
// their id. X-Request-UUID is recorded beside, for reference. One repo:push delivery reports one
// event per ref it changes.
package bitbucket

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

// The headers Bitbucket Cloud sends with every delivery. X-Hub-Signature is sent only by hooks
// configured with a secret.
const (
	HeaderEvent     = "X-Event-Key"
	HeaderRequest   = "X-Request-UUID"
	HeaderSignature = "X-Hub-Signature"
)

const signaturePrefix = "sha256="

// The event keys Slipway acts on; every other X-Event-Key (pullrequest:approved, issue:created,
// ...) is ignored.
const (
	eventPush           = "repo:push"
	eventPRCreated      = "pullrequest:created"
	eventPRUpdated      = "pullrequest:updated"
	eventPRFulfilled    = "pullrequest:fulfilled"
	eventPRRejected     = "pullrequest:rejected"
	eventPRCommentAdded = "pullrequest:comment_created"
)

// Parser reads Bitbucket Cloud deliveries. Its zero value is ready to use and it holds no state.
type Parser struct{}

// New returns a Parser.
func New() *Parser { return &Parser{} }

// Identify returns the delivery id and the repository a delivery is about, reading only the media
// type, the event and delivery headers and the body's repository. The delivery id is "" when the
// delivery carries no X-Request-UUID. It returns an *event.IgnoredError for event
// keys Slipway does not act on, decided on the header alone.
func (p *Parser) Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error) {
	deliveryID = header.Get(HeaderRequest)
	if err := checkContentType(header); err != nil {
		return deliveryID, event.Repo{}, err
	}
	if _, err := eventKey(header); err != nil {
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
	return deliveryID, id.Repository.identity(), nil
}

// Verify checks X-Hub-Signature, "sha256=" and the hex HMAC-SHA256 of the raw body, against each
// secret in constant time; several secrets let a secret be rotated without dropping deliveries.
// Empty secrets are skipped. A hook without a secret sends no signature: that is
// event.ErrNoSignature, which the receiver accepts only for repositories allowed to be unsigned.
func (p *Parser) Verify(header http.Header, body []byte, secrets [][]byte) error {
	return hmacsig.Verify(HeaderSignature, header.Get(HeaderSignature), signaturePrefix, body, secrets)
}

// Sign returns the X-Hub-Signature value Bitbucket sends for body signed with secret.
func Sign(secret, body []byte) string { return hmacsig.Sign(signaturePrefix, secret, body) }

// Parse normalizes a verified delivery. It returns an error wrapping event.ErrMalformed when the
// body cannot be read, and an *event.IgnoredError for deliveries Slipway does not act on (an
// approval, a push that changes no branch and no tag, ...). It leaves ReceivedAt and BodySHA256
// for the receiver.
//
// A repo:push delivery reports one event per branch or tag it changes, in the order the payload
// lists them (a deleted tag is skipped: nothing can be built from it); every other delivery
// reports one event.
//
// Bitbucket does not document X-Request-UUID as stable across its automatic retries and the
// "Resend request" button, so each event's DedupKey is derived from the change it reports (see
// event.Event.ChangeKey) and X-Request-UUID is only recorded, as DeliveryID, for reference. A
// delivery without X-Request-UUID gets its DedupKey as DeliveryID.
func (p *Parser) Parse(header http.Header, body []byte) ([]event.Event, error) {
	key, err := eventKey(header)
	if err != nil {
		return nil, err
	}
	if err := checkContentType(header); err != nil {
		return nil, err
	}
	var (
		evs       []event.Event
		commentID int64
	)
	switch key {
	case eventPush:
		evs, err = parsePush(body)
	case eventPRCommentAdded:
		var ev event.Event
		ev, commentID, err = parseComment(body)
		evs = []event.Event{ev}
	default:
		var ev event.Event
		ev, err = parsePullRequest(key, body)
		evs = []event.Event{ev}
	}
	if err != nil {
		return nil, err
	}
	id := header.Get(HeaderRequest)
	for i := range evs {
		ev := &evs[i]
		ev.Provider = event.Bitbucket
		ev.DedupKey = ev.ChangeKey(strconv.FormatInt(commentID, 10))
		ev.DeliveryID = id
		if id == "" {
			ev.DeliveryID = ev.DedupKey
		}
	}
	return evs, nil
}

// eventKey returns the X-Event-Key header when Slipway acts on that key.
func eventKey(header http.Header) (string, error) {
	key := header.Get(HeaderEvent)
	switch key {
	case eventPush, eventPRCreated, eventPRUpdated, eventPRFulfilled, eventPRRejected, eventPRCommentAdded:
		return key, nil
	case "":
		return "", fmt.Errorf("%w: no %s header", event.ErrMalformed, HeaderEvent)
	}
	return "", event.Ignore(fmt.Sprintf("Bitbucket event %q is not used", truncate(key, 64)))
}

// checkContentType accepts the JSON bodies Bitbucket Cloud sends, nothing else.
func checkContentType(header http.Header) error {
	if enc := header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Errorf("%w: content encoding %q", event.ErrContentType, truncate(enc, 64))
	}
	ct := header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/json" {
		return fmt.Errorf("%w: content type %q", event.ErrContentType, truncate(ct, 64))
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
