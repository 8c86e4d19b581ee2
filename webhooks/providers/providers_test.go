package providers_test

import (
	"testing"

	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/providers"
)

func TestAllProviders(t *testing.T) {
	all := providers.All()
	for _, p := range []event.Provider{event.GitHub, event.GitLab, event.Gitea, event.Forgejo, event.Bitbucket} {
		if all[p] == nil {
			t.Errorf("no parser for %s", p)
		}
	}
	if len(all) != 5 {
		t.Errorf("%d parsers, want 5", len(all))
	}
}
