// Package github verifies and normalizes GitHub webhook deliveries.
package github

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/hmacsig"
)

// The headers GitHub sends with every delivery.
const (
	HeaderEvent     = "X-GitHub-Event"
	HeaderDelivery  = "X-GitHub-Delivery"
	HeaderSignature = "X-Hub-Signature-256"
)

const signaturePrefix = "sha256="

// The event types Slipway acts on; every other X-GitHub-Event is ignored.
const (
	eventPing         = "ping"
	eventPush         = "push"
	eventPullRequest  = "pull_request"
	eventIssueComment = "issue_comment"
)

// Parser reads GitHub deliveries. Its zero value is ready to use and it holds no state.
type Parser struct{}

// New returns a Parser.
func New() *Parser { return &Parser{} }

// Identify returns the delivery id and the repository a delivery is about, reading only what it
// needs to look up that repository's secrets: the media type, the event and delivery headers and
// the body's repository (or, for an organization-level hook, organization). It returns an
// *event.IgnoredError for event types Slipway does not act on, decided on the header alone.
func (p *Parser) Identify(header http.Header, body []byte) (deliveryID string, repo event.Repo, err error) {
	deliveryID = header.Get(HeaderDelivery)
	repo, err = identify(header, body)
	return deliveryID, repo, err
}

func identify(header http.Header, body []byte) (event.Repo, error) {
	payload, err := jsonPayload(header, body)
	if err != nil {
		return event.Repo{}, err
	}
	if _, err := eventType(header); err != nil {
		return event.Repo{}, err
	}
	var id struct {
		Repository   *repository `json:"repository"`
		Organization *struct {
			Login string `json:"login"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(payload, &id); err != nil {
		return event.Repo{}, fmt.Errorf("%w: decode payload: %v", event.ErrMalformed, err)
	}
	switch {
	case id.Repository != nil && id.Repository.FullName != "":
		return event.Repo{FullName: id.Repository.FullName, URL: id.Repository.CloneURL}, nil
	case id.Organization != nil && id.Organization.Login != "":
		return event.Repo{FullName: id.Organization.Login}, nil
	}
	return event.Repo{}, fmt.Errorf("%w: payload names no repository", event.ErrMalformed)
}

// Verify checks X-Hub-Signature-256, the hex HMAC-SHA256 of the raw body, against each secret in
// constant time; several secrets let a secret be rotated without dropping deliveries. Empty
// secrets are skipped. The legacy SHA-1 X-Hub-Signature is not accepted.
func (p *Parser) Verify(header http.Header, body []byte, secrets [][]byte) error {
	return hmacsig.Verify(HeaderSignature, header.Get(HeaderSignature), signaturePrefix, body, secrets)
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for body signed with secret.
func Sign(secret, body []byte) string { return hmacsig.Sign(signaturePrefix, secret, body) }

// Parse normalizes a verified delivery. It returns an error wrapping event.ErrMalformed when the
// body cannot be read, and an *event.IgnoredError for deliveries Slipway does not act on (a comment
// on a plain issue, a deleted tag, a pull request label change, ...). It leaves ReceivedAt and
// BodySHA256 for the receiver.
//
// A delivery reports one event. GitHub keeps X-GitHub-Delivery when a delivery is redelivered,
// so the delivery id identifies the event and no DedupKey is set.
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
	payload, err := jsonPayload(header, body)
	if err != nil {
		return event.Event{}, err
	}
	var ev event.Event
	switch typ {
	case eventPing:
		ev, err = parsePing(payload)
	case eventPush:
		ev, err = parsePush(payload)
	case eventPullRequest:
		ev, err = parsePullRequest(payload)
	case eventIssueComment:
		ev, err = parseIssueComment(payload)
	}
	if err != nil {
		return event.Event{}, err
	}
	ev.Provider = event.GitHub
	ev.DeliveryID = header.Get(HeaderDelivery)
	if ev.DeliveryID == "" {
		return event.Event{}, fmt.Errorf("%w: no %s header", event.ErrMalformed, HeaderDelivery)
	}
	return ev, nil
}

// eventType returns the X-GitHub-Event header when Slipway acts on that type.
func eventType(header http.Header) (string, error) {
	typ := header.Get(HeaderEvent)
	switch typ {
	case eventPing, eventPush, eventPullRequest, eventIssueComment:
		return typ, nil
	case "":
		return "", fmt.Errorf("%w: no %s header", event.ErrMalformed, HeaderEvent)
	}
	return "", event.Ignore(fmt.Sprintf("GitHub event %q is not used", truncate(typ, 64)))
}

// jsonPayload returns the JSON document of a delivery: the body itself, or the payload field of a
// form-encoded body. The signature always covers the raw body, not this document.
func jsonPayload(header http.Header, body []byte) ([]byte, error) {
	if enc := header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, fmt.Errorf("%w: content encoding %q", event.ErrContentType, truncate(enc, 64))
	}
	ct := header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: content type %q", event.ErrContentType, truncate(ct, 64))
	}
	switch mediaType {
	case "application/json":
		return body, nil
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: decode form body: %v", event.ErrMalformed, err)
		}
		payload, ok := form["payload"]
		if !ok || len(payload) != 1 {
			return nil, fmt.Errorf("%w: form body needs exactly one payload field", event.ErrMalformed)
		}
		return []byte(payload[0]), nil
	}
	return nil, fmt.Errorf("%w: content type %q", event.ErrContentType, truncate(mediaType, 64))
}

// truncate keeps header values echoed into errors short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
