// Package bitbucket verifies and normalizes Bitbucket Cloud webhook deliveries.
package bitbucket

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/hmacsig"
)

// The headers Bitbucket Cloud sends with every delivery. X-Hub-Signature is sent only by hooks
// configured with a secret.
const (
	HeaderEvent     = "X-Event-Key"
	HeaderRequest   = "X-Request-UUID"
	HeaderHook      = "X-Hook-UUID"
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
// type, the event and delivery headers and the body's repository. The delivery id is "" when it
// has to be derived from the parsed event (see Parse). It returns an *event.IgnoredError for event
// keys Slipway does not act on, decided on the header alone.
func (p *Parser) Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error) {
	deliveryID = headerDeliveryID(header, body)
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
// body cannot be read, and an *event.IgnoredError for deliveries Slipway does not act on (a push
// of a deleted tag, an approval, ...). It leaves ReceivedAt and BodySHA256 for the receiver.
//
// A repo:push delivery may carry several ref changes; Parse normalizes the first branch or tag
// change only, because Slipway records one Delivery per provider delivery.
//
// The delivery id is X-Request-UUID. Without it, it is X-Hook-UUID and the body's digest, which a
// retry of the same delivery repeats; without either, it is derived from the event key, repository,
// ref, before and after commits (and comment id), so that a delivery sent twice is still recorded
// once. DerivedDeliveryID documents that id.
func (p *Parser) Parse(header http.Header, body []byte) (event.Event, error) {
	key, err := eventKey(header)
	if err != nil {
		return event.Event{}, err
	}
	if err := checkContentType(header); err != nil {
		return event.Event{}, err
	}
	var (
		ev        event.Event
		commentID int64
	)
	switch key {
	case eventPush:
		ev, err = parsePush(body)
	case eventPRCommentAdded:
		ev, commentID, err = parseComment(body)
	default:
		ev, err = parsePullRequest(key, body)
	}
	if err != nil {
		return event.Event{}, err
	}
	ev.Provider = event.Bitbucket
	ev.DeliveryID = headerDeliveryID(header, body)
	if ev.DeliveryID == "" {
		ev.DeliveryID = DerivedDeliveryID(key, ev, commentID)
	}
	return ev, nil
}

// headerDeliveryID returns the delivery id the headers give, or "" when they give none.
func headerDeliveryID(header http.Header, body []byte) string {
	if id := header.Get(HeaderRequest); id != "" {
		return id
	}
	if hook := strings.Trim(header.Get(HeaderHook), "{}"); hook != "" {
		return hook + "-" + event.BodyDigest(body)[:32]
	}
	return ""
}

// DerivedDeliveryID returns the delivery id of a delivery that carries neither X-Request-UUID nor
// X-Hook-UUID: "derived-" and a digest of the event key, repository, ref, before and after
// commits and, for comments, the comment id. Two deliveries of the same change get the same id, so
// the Sink records them once; the cost is that a branch moved back to a commit it pointed at
// before, from the same previous commit, is taken for a duplicate.
func DerivedDeliveryID(key string, ev event.Event, commentID int64) string {
	h := sha256.New()
	for _, part := range []string{key, ev.RepoFullName, ev.Ref, ev.Before, ev.After, fmt.Sprint(commentID)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "derived-" + hex.EncodeToString(h.Sum(nil))[:40]
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
