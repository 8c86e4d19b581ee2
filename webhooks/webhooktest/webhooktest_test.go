package webhooktest_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitea"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/gitlab"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// parser is the part of the receiver's Parser interface a delivery goes through.
type parser interface {
	Identify(header http.Header, body []byte) (string, event.Repo, error)
	Verify(header http.Header, body []byte, secrets [][]byte) error
	Parse(header http.Header, body []byte) ([]event.Event, error)
}

// The requests built here pass each provider's own parser exactly as a real delivery does.
func TestDeliveriesPassTheProvidersParsers(t *testing.T) {
	secret := []byte("replay-secret")
	for _, tc := range []struct {
		provider event.Provider
		event    string
		file     string
		parser   parser
		want     event.Kind
	}{
		{event.GitHub, "push", "github/thirdparty/push.branch-update.drone-go-scm.json", github.New(), event.Push},
		{event.GitLab, "Push Hook", "gitlab/client-go/push.json", gitlab.New(), event.Push},
		{event.Gitea, "push", "gitea/thirdparty/push.drone-go-scm.json", gitea.New(), event.Push},
		{event.Forgejo, "push", "gitea/thirdparty/push.drone-go-scm.json", gitea.NewForgejo(), event.Push},
		{event.Bitbucket, "repo:push", "bitbucket/captured/repo_push.branch-update.body.json", bitbucket.New(), event.Push},
	} {
		t.Run(string(tc.provider), func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("../../testdata/webhooks", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			d := webhooktest.Delivery{Provider: tc.provider, Event: tc.event, ID: "replay-1", Body: body, Secret: secret}
			h, err := d.Header()
			if err != nil {
				t.Fatal(err)
			}
			id, _, err := tc.parser.Identify(h, body)
			if err != nil || id != "replay-1" {
				t.Fatalf("Identify = %q, %v; want replay-1", id, err)
			}
			if err := tc.parser.Verify(h, body, [][]byte{secret}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			evs, err := tc.parser.Parse(h, body)
			if err != nil || len(evs) != 1 || evs[0].Kind != tc.want || evs[0].DeliveryID != "replay-1" {
				t.Fatalf("Parse = %+v, %v; want one %s with delivery id replay-1", evs, err, tc.want)
			}

			d.Signature = webhooktest.BadSignature
			bad, _ := d.Header()
			if err := tc.parser.Verify(bad, body, [][]byte{secret}); err == nil || errors.Is(err, event.ErrNoSignature) {
				t.Fatalf("Verify of a bad signature = %v, want a mismatch", err)
			}
			d.Signature = webhooktest.Unsigned
			unsigned, _ := d.Header()
			if err := tc.parser.Verify(unsigned, body, [][]byte{secret}); !errors.Is(err, event.ErrNoSignature) {
				t.Fatalf("Verify of an unsigned delivery = %v, want ErrNoSignature", err)
			}
		})
	}
}
