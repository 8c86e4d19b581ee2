// Package webhooktest builds the HTTP requests each Git provider sends for a webhook delivery,
// with the headers and signature that provider uses, so end-to-end tests, benchmarks and replay
// tools can post real payloads to a receiver exactly as the provider would.
package webhooktest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitea"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/gitlab"
)

// Signature says how a delivery is authenticated.
type Signature int

// Ways to authenticate a delivery.
const (
	// Signed signs (or, for GitLab, tokens) the delivery with the secret, as the provider does.
	Signed Signature = iota
	// Unsigned sends no signature header at all.
	Unsigned
	// BadSignature signs with a different secret.
	BadSignature
)

// Delivery is one webhook delivery to send.
type Delivery struct {
	Provider event.Provider
	// Event is the provider's event name: GitHub's X-GitHub-Event (push, pull_request, ...),
	// GitLab's X-Gitlab-Event (Push Hook, ...), Gitea's and Forgejo's X-Gitea-Event (push,
	// pull_request, ...), Bitbucket's X-Event-Key (repo:push, ...).
	Event string
	// ID is the provider's delivery id; for Bitbucket the X-Request-UUID.
	ID   string
	Body []byte
	// Secret signs the delivery (GitLab sends it as its token).
	Secret    []byte
	Signature Signature
}

// Header returns the headers the provider sends with d.
func (d Delivery) Header() (http.Header, error) {
	secret := d.Secret
	switch d.Signature {
	case Unsigned:
		secret = nil
	case BadSignature:
		secret = append([]byte("not-"), secret...)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	switch d.Provider {
	case event.GitHub:
		h.Set("User-Agent", "GitHub-Hookshot/replay")
		h.Set(github.HeaderEvent, d.Event)
		h.Set(github.HeaderDelivery, d.ID)
		if secret != nil {
			h.Set(github.HeaderSignature, github.Sign(secret, d.Body))
		}
	case event.GitLab:
		h.Set("User-Agent", "GitLab/18.6.0")
		h.Set(gitlab.HeaderEvent, d.Event)
		h.Set(gitlab.HeaderEventUUID, d.ID)
		if secret != nil {
			h.Set(gitlab.HeaderToken, string(secret))
		}
	case event.Gitea, event.Forgejo:
		h.Set(gitea.HeaderEvent, d.Event)
		h.Set(gitea.HeaderEventType, d.Event)
		h.Set(gitea.HeaderDelivery, d.ID)
		if d.Provider == event.Forgejo {
			h.Set(gitea.HeaderForgejoEvent, d.Event)
			h.Set(gitea.HeaderForgejoEventType, d.Event)
			h.Set(gitea.HeaderForgejoDelivery, d.ID)
		}
		if secret != nil {
			sig := gitea.Sign(secret, d.Body)
			h.Set(gitea.HeaderSignature, sig)
			if d.Provider == event.Forgejo {
				h.Set(gitea.HeaderForgejoSignature, sig)
			}
		}
	case event.Bitbucket:
		h.Set("User-Agent", "Bitbucket-Webhooks/2.0")
		h.Set(bitbucket.HeaderEvent, d.Event)
		h.Set(bitbucket.HeaderRequest, d.ID)
		if secret != nil {
			h.Set(bitbucket.HeaderSignature, bitbucket.Sign(secret, d.Body))
		}
	default:
		return nil, fmt.Errorf("webhooktest: unknown provider %q", d.Provider)
	}
	return h, nil
}

// Request returns the POST the provider makes to a receiver at baseURL (its hooks are under
// baseURL/hooks/<provider>).
func (d Delivery) Request(ctx context.Context, baseURL string) (*http.Request, error) {
	h, err := d.Header()
	if err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(baseURL, "/") + "/hooks/" + string(d.Provider)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	return req, nil
}
