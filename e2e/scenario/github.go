package scenario

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"slipway.dev/slipway/webhooks/github"
)

// PushPayload returns a GitHub push webhook body for a push to branch main of repoURL, made
// from a real GitHub push delivery (template) with the repository and commits replaced.
func PushPayload(template, repoURL, fullName, before, after string) ([]byte, error) {
	raw, err := os.ReadFile(template)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("parse %s: %w", template, err)
	}
	p["ref"], p["before"], p["after"] = "refs/heads/main", before, after
	p["created"] = strings.Trim(before, "0") == ""
	repo, _ := p["repository"].(map[string]any)
	if repo == nil {
		return nil, fmt.Errorf("%s has no repository", template)
	}
	html := strings.TrimSuffix(repoURL, ".git")
	repo["clone_url"], repo["html_url"], repo["full_name"] = repoURL, html, fullName
	repo["name"] = fullName[strings.LastIndex(fullName, "/")+1:]
	repo["default_branch"], repo["master_branch"] = "main", "main"
	if hc, ok := p["head_commit"].(map[string]any); ok {
		hc["id"], hc["tree_id"] = after, after
	}
	if cs, ok := p["commits"].([]any); ok && len(cs) > 0 {
		if c, ok := cs[len(cs)-1].(map[string]any); ok {
			c["id"] = after
		}
		p["commits"] = cs[len(cs)-1:]
	}
	return json.Marshal(p)
}

// GitHubHeaders returns the headers GitHub sends with a push delivery, signed with secret.
func GitHubHeaders(deliveryID string, secret, body []byte) map[string]string {
	h := map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "GitHub-Hookshot/e2e",
		"X-GitHub-Event":    "push",
		"X-GitHub-Delivery": deliveryID,
	}
	if secret != nil {
		h["X-Hub-Signature-256"] = github.Sign(secret, body)
	}
	return h
}
