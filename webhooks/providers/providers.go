// Package providers lists the webhook parsers of every Git provider Slipway accepts, for the
// receivers that serve them all.
package providers

import (
	"slipway.dev/slipway/webhooks"
	"slipway.dev/slipway/webhooks/bitbucket"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/gitea"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/gitlab"
)

// All returns a parser for each provider: GitHub, GitLab, Gitea, Forgejo and Bitbucket Cloud.
func All() map[event.Provider]webhooks.Parser {
	return map[event.Provider]webhooks.Parser{
		event.GitHub: github.New(), event.GitLab: gitlab.New(), event.Gitea: gitea.New(),
		event.Forgejo: gitea.NewForgejo(), event.Bitbucket: bitbucket.New(),
	}
}
