package event

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Validate reports the first field that is missing or malformed for e's Kind, as an error that
// wraps ErrInvalid and names the field by its JSON name. The receiver calls it on every Event
// before recording it, so that nothing downstream sees a half-filled event.
func (e Event) Validate() error {
	if err := e.validateCommon(); err != nil {
		return err
	}
	switch {
	case e.Kind == Ping:
		return nil
	case e.Kind.IsPullRequest():
		return e.validatePullRequest()
	default:
		return e.validateRefUpdate()
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func (e Event) validateCommon() error {
	switch {
	case e.Provider == "":
		return invalid("provider is required")
	case !e.Provider.Valid():
		return invalid("provider %q is unknown", e.Provider)
	case e.Kind == "":
		return invalid("kind is required")
	case !e.Kind.Valid():
		return invalid("kind %q is unknown", e.Kind)
	case e.DeliveryID == "":
		return invalid("deliveryID is required")
	case len(e.DeliveryID) > MaxDeliveryIDLen:
		return invalid("deliveryID is longer than %d bytes", MaxDeliveryIDLen)
	case !printable(e.DeliveryID):
		return invalid("deliveryID has characters outside printable ASCII")
	case len(e.DedupKey) > MaxDeliveryIDLen:
		return invalid("dedupKey is longer than %d bytes", MaxDeliveryIDLen)
	case e.DedupKey != "" && !printable(e.DedupKey):
		return invalid("dedupKey has characters outside printable ASCII")
	case e.ReceivedAt.IsZero():
		return invalid("receivedAt is required")
	case e.BodySHA256 == "":
		return invalid("bodySHA256 is required")
	case len(e.BodySHA256) != 64 || !isHex(e.BodySHA256) || strings.ToLower(e.BodySHA256) != e.BodySHA256:
		return invalid("bodySHA256 is not 64 lower-case hex digits")
	case utf8.RuneCountInString(e.Comment) > MaxCommentRunes:
		return invalid("comment is longer than %d characters", MaxCommentRunes)
	}
	if e.Kind == Ping {
		// An organization-level ping names no repository.
		if e.RepoURL != "" {
			return validateRepoURL(e.RepoURL)
		}
		return nil
	}
	if e.RepoFullName == "" {
		return invalid("repoFullName is required")
	}
	if e.RepoURL == "" {
		return invalid("repoURL is required")
	}
	return validateRepoURL(e.RepoURL)
}

func validateRepoURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return invalid("repoURL %q is not an http(s) URL without credentials", raw)
	}
	return nil
}

func (e Event) validateRefUpdate() error {
	prefix := BranchPrefix
	if e.Kind == Tag {
		prefix = TagPrefix
	}
	switch {
	case e.Ref == "":
		return invalid("ref is required")
	case !strings.HasPrefix(e.Ref, prefix) || len(e.Ref) == len(prefix):
		return invalid("ref %q is not a %s ref", e.Ref, prefix)
	case e.PullRequest != nil:
		return invalid("pullRequest is set on a %s event", e.Kind)
	}
	if err := validateSHA("before", e.Before, e.Kind == Push); err != nil {
		return err
	}
	switch e.Kind {
	case BranchDelete:
		if !IsZeroSHA(e.After) {
			return invalid("after must be the zero SHA on a branch-delete event")
		}
		return nil
	case BranchCreate:
		if !IsZeroSHA(e.Before) {
			return invalid("before must be the zero SHA on a branch-create event")
		}
	}
	return validateSHA("after", e.After, true)
}

func (e Event) validatePullRequest() error {
	pr := e.PullRequest
	switch {
	case pr == nil:
		return invalid("pullRequest is required")
	case pr.Number <= 0:
		return invalid("pullRequest.number is required")
	case e.Ref == "":
		return invalid("ref is required")
	}
	if e.Kind == PRComment {
		// Comment payloads name the pull request but not always its head.
		return validateSHA("pullRequest.headSHA", pr.HeadSHA, false)
	}
	switch {
	case pr.HeadRef == "":
		return invalid("pullRequest.headRef is required")
	case pr.BaseRef == "":
		return invalid("pullRequest.baseRef is required")
	}
	if err := validateSHA("pullRequest.headSHA", pr.HeadSHA, true); err != nil {
		return err
	}
	if err := validateSHA("pullRequest.baseSHA", pr.BaseSHA, false); err != nil {
		return err
	}
	if err := validateSHA("before", e.Before, false); err != nil {
		return err
	}
	return validateSHA("after", e.After, false)
}

// validateSHA accepts hex object names from 7 digits (abbreviated, as Bitbucket sends for pull
// requests) to 64 (SHA-256 repositories). A required SHA may not be the zero SHA.
func validateSHA(field, sha string, required bool) error {
	if sha == "" {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if len(sha) < 7 || len(sha) > 64 || !isHex(sha) {
		return invalid("%s %q is not a commit SHA", field, sha)
	}
	if required && IsZeroSHA(sha) {
		return invalid("%s is the zero SHA", field)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
