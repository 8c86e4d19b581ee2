package v1alpha1

import (
	"net/url"
	"strings"
)

// NormalizeRepoURL reduces a clone URL to host and path, lower-cased, without ".git" or a
// trailing slash, so that the URL in a webhook matches the one in an Application whatever the
// scheme or spelling.
func NormalizeRepoURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(raw, "/"), ".git"))
	}
	p := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	return strings.ToLower(u.Host + p)
}

// TrackedBranch returns the branch whose pushes deploy the Application.
func (a *Application) TrackedBranch() string {
	if a.Spec.Source.Branch == "" {
		return "main"
	}
	return a.Spec.Source.Branch
}
