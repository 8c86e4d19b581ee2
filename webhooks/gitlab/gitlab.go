// Package gitlab verifies and normalizes GitLab webhook deliveries.
package gitlab

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"slipway.dev/slipway/webhooks/event"
)

// The headers GitLab sends with a delivery.
const (
	// HeaderEvent names the event type, such as "Push Hook".
	HeaderEvent = "X-Gitlab-Event"
	// HeaderToken carries the hook's secret token as-is; GitLab does not sign the body.
	HeaderToken = "X-Gitlab-Token"
	// HeaderIdempotencyKey is GitLab's id for one delivery that a retry or a resend repeats.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderEventUUID is GitLab's id for the event behind a delivery.
	HeaderEventUUID = "X-Gitlab-Event-UUID"
)

// The event types Slipway acts on; every other X-Gitlab-Event is ignored. Group hooks send the
// same names as project hooks.
const (
	eventPush         = "Push Hook"
	eventTagPush      = "Tag Push Hook"
	eventMergeRequest = "Merge Request Hook"
	eventNote         = "Note Hook"
)

// objectKinds is the object_kind each event type's body carries.
var objectKinds = map[string]string{
	eventPush:         "push",
	eventTagPush:      "tag_push",
	eventMergeRequest: "merge_request",
	eventNote:         "note",
}

// Parser reads GitLab deliveries. Its zero value is ready to use and it holds no state.
type Parser struct{}

// New returns a Parser.
func New() *Parser { return &Parser{} }

// Identify returns the delivery id and the repository a delivery is about, reading only what it
// needs to look up that repository's secrets: the media type, the event and id headers and the
// body's project. It returns an *event.IgnoredError for event types Slipway does not act on,
// decided on the header alone. The delivery id is "" when the delivery carries none and Parse
// has to derive one from the event.
func (p *Parser) Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error) {
	deliveryID, idErr := headerDeliveryID(header)
	if err := checkContentType(header); err != nil {
		return deliveryID, event.Repo{}, err
	}
	if _, err := eventType(header); err != nil {
		return deliveryID, event.Repo{}, err
	}
	if idErr != nil {
		return "", event.Repo{}, idErr
	}
	var id struct {
		Project    *project    `json:"project"`
		Repository *repository `json:"repository"`
	}
	if err := json.Unmarshal(body, &id); err != nil {
		return deliveryID, event.Repo{}, fmt.Errorf("%w: decode payload: %v", event.ErrMalformed, err)
	}
	repo, err = repoOf(id.Project, id.Repository)
	return deliveryID, repo, err
}

// Verify compares X-Gitlab-Token with each secret in constant time; several secrets let a token be
// rotated without dropping deliveries. Empty secrets are skipped. Both sides are hashed first so
// that the comparison takes the same time whatever their lengths, and every secret is compared so
// that the time does not tell which one matched.
func (p *Parser) Verify(header http.Header, body []byte, secrets [][]byte) error {
	tokens := header.Values(HeaderToken)
	switch {
	case len(tokens) == 0 || len(tokens) == 1 && tokens[0] == "":
		return fmt.Errorf("%w: no %s header", event.ErrNoSignature, HeaderToken)
	case len(tokens) > 1:
		return fmt.Errorf("%w: more than one %s header", event.ErrBadSignature, HeaderToken)
	}
	got := sha256.Sum256([]byte(tokens[0]))
	match := 0
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		want := sha256.Sum256(secret)
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	if match != 1 {
		return fmt.Errorf("%w: %s matches no secret", event.ErrBadSignature, HeaderToken)
	}
	return nil
}

// Parse normalizes a verified delivery. It returns an error wrapping event.ErrMalformed when the
// body cannot be read, and an *event.IgnoredError for deliveries Slipway does not act on (a deleted
// tag, a merge request update without new commits, a comment on a commit, ...). It leaves
// ReceivedAt and BodySHA256 for the receiver.
//
// The delivery id is Idempotency-Key, which GitLab keeps across retries and resends of one
// delivery, else X-Gitlab-Event-UUID (older GitLab), else one derived from the event itself (see
// derivedDeliveryID) so that redeliveries still deduplicate. X-Gitlab-Webhook-UUID is never used:
// GitLab draws it afresh for every request, so a redelivery would look new. A delivery reports
// one event, and the delivery id identifies it: no DedupKey is set.
func (p *Parser) Parse(header http.Header, body []byte) ([]event.Event, error) {
	ev, err := p.parse(header, body)
	if err != nil {
		return nil, err
	}
	return []event.Event{ev}, nil
}

func (p *Parser) parse(header http.Header, body []byte) (event.Event, error) {
	typ, err := eventType(header)
	if err != nil {
		return event.Event{}, err
	}
	if err := checkContentType(header); err != nil {
		return event.Event{}, err
	}
	id, err := headerDeliveryID(header)
	if err != nil {
		return event.Event{}, err
	}
	var ev event.Event
	var noteID int64
	switch typ {
	case eventPush, eventTagPush:
		ev, err = parsePush(typ, body)
	case eventMergeRequest:
		ev, err = parseMergeRequest(body)
	case eventNote:
		ev, noteID, err = parseNote(body)
	}
	if err != nil {
		return event.Event{}, err
	}
	ev.Provider = event.GitLab
	ev.DeliveryID = id
	if id == "" {
		ev.DeliveryID = derivedDeliveryID(ev, noteID)
	}
	return ev, nil
}

// eventType returns the X-Gitlab-Event header when Slipway acts on that type.
func eventType(header http.Header) (string, error) {
	typ := header.Get(HeaderEvent)
	if _, ok := objectKinds[typ]; ok {
		return typ, nil
	}
	if typ == "" {
		return "", fmt.Errorf("%w: no %s header", event.ErrMalformed, HeaderEvent)
	}
	return "", event.Ignore(fmt.Sprintf("GitLab event %q is not used", truncate(typ, 64)))
}

// checkContentType accepts the only body GitLab sends: uncompressed application/json.
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

// headerDeliveryID returns the first delivery id header present, or "" when there is none. An id
// header that is present but unusable is malformed rather than skipped: falling through to the
// next one would give one delivery two ids depending on which proxy mangled what.
func headerDeliveryID(header http.Header) (string, error) {
	for _, name := range []string{HeaderIdempotencyKey, HeaderEventUUID} {
		id := header.Get(name)
		if id == "" {
			continue
		}
		if len(id) > event.MaxDeliveryIDLen || !printable(id) {
			return "", fmt.Errorf("%w: %s is not a printable id of at most %d bytes", event.ErrMalformed, name, event.MaxDeliveryIDLen)
		}
		return id, nil
	}
	return "", nil
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// truncate keeps header values echoed into errors short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
