package configrepo

import (
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"slipway.dev/slipway/engine/manifest"
)

// Trailer is one "Key: Value" line in the trailer block at the end of a commit message, such
// as Source-Commit, Image-Digest, Slipway-Delivery or Slipway-Release.
type Trailer struct {
	Key   string
	Value string
}

// Change replaces one directory of one branch with a set of files.
type Change struct {
	// Branch is the branch to commit to; it is created if the remote does not have it.
	Branch string
	// Dir is the slash-separated directory the Change owns, e.g. "environments/staging/hello".
	Dir string
	// Files replace the whole content of Dir; their paths are relative to Dir. Files that
	// exist in Dir but not here are deleted, and an empty Files deletes Dir.
	Files []manifest.File
	// Subject is the first line of the commit message.
	Subject string
	// Trailers are rendered git-style, one per line, after a blank line following Subject.
	Trailers []Trailer
}

// Result describes the outcome of Commit.
type Result struct {
	// Commit is the SHA of the branch tip holding the Change: the new commit when Created,
	// otherwise the existing tip that already held the content (empty if the branch does not
	// exist and the Change deleted nothing).
	Commit string
	// Created reports whether a new commit was pushed.
	Created bool
}

// validate checks everything about c that can be checked without the repository, so that a
// bad Change fails before any network traffic and with a message naming the offending part.
func (c Change) validate() error {
	if err := validateBranch(c.Branch); err != nil {
		return err
	}
	if err := validateDir(c.Dir); err != nil {
		return err
	}
	if c.Subject == "" || strings.ContainsAny(c.Subject, "\r\n") {
		return fmt.Errorf("change for dir %q: subject must be one non-empty line", c.Dir)
	}
	for _, t := range c.Trailers {
		if !validTrailerKey(t.Key) {
			return fmt.Errorf("change for dir %q: trailer key %q: want letters, digits and '-'", c.Dir, t.Key)
		}
		if t.Value == "" || strings.ContainsAny(t.Value, "\r\n") {
			return fmt.Errorf("change for dir %q: trailer %q: value must be one non-empty line", c.Dir, t.Key)
		}
	}
	for _, f := range c.Files {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("change for dir %q: %w", c.Dir, err)
		}
		if hasGitComponent(f.Path) {
			return fmt.Errorf("change for dir %q: manifest file %q: .git is not allowed in a path", c.Dir, f.Path)
		}
	}
	return nil
}

func validateBranch(branch string) error {
	if branch == "" {
		return fmt.Errorf("branch: empty name")
	}
	// ':' and '*' are legal in no ref name but would change the meaning of a refspec.
	if strings.ContainsAny(branch, ":*?[\\^~ \t") || strings.HasPrefix(branch, "-") ||
		plumbing.NewBranchReferenceName(branch).Validate() != nil {
		return fmt.Errorf("branch %q: not a valid branch name", branch)
	}
	return nil
}

// validateDir accepts a clean, relative, slash-separated directory that is not the repository
// root: a Change owns one directory, never the whole repository.
func validateDir(dir string) error {
	if err := (manifest.File{Path: dir}).Validate(); err != nil {
		return fmt.Errorf("dir %q: must be a clean relative path inside the repository", dir)
	}
	if hasGitComponent(dir) {
		return fmt.Errorf("dir %q: .git is not allowed in a path", dir)
	}
	return nil
}

// hasGitComponent reports whether p has a ".git" component, which Git refuses in trees.
func hasGitComponent(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if strings.EqualFold(part, ".git") {
			return true
		}
	}
	return false
}

func validTrailerKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		ok := r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
		if !ok {
			return false
		}
	}
	return k[0] != '-'
}

// message renders the commit message: subject, blank line, trailer block.
func (c Change) message() string {
	var b strings.Builder
	b.WriteString(c.Subject)
	b.WriteString("\n")
	if len(c.Trailers) > 0 {
		b.WriteString("\n")
		for _, t := range c.Trailers {
			fmt.Fprintf(&b, "%s: %s\n", t.Key, t.Value)
		}
	}
	return b.String()
}

// dirComponents splits a validated directory into its path components.
func dirComponents(dir string) []string {
	return strings.Split(path.Clean(dir), "/")
}
