// Package sourcekey names an application's build input: the Git tree of its directory at one
// commit and the settings that change the image built from it.
package sourcekey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// schema is mixed into every key so that a change to what the key covers invalidates all the
// keys made before it.
const schema = "slipway.dev/sourcekey/v1"

// gitTimeout bounds the one git command a key needs.
const gitTimeout = 30 * time.Second

// TagPrefix starts every tag made from a key.
const TagPrefix = "src-"

var (
	treeID   = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	settingK = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
)

// Key is the hex SHA-256 of a source tree and its build settings.
type Key string

// Tag is the image tag that marks an image as built from k: "src-" and the first 32 hex digits.
func (k Key) Tag() string {
	s := string(k)
	if len(s) > 32 {
		s = s[:32]
	}
	return TagPrefix + s
}

// Compute returns the key of tree (a Git tree id) built with settings. The settings' order does
// not matter; an empty value is kept, since "" and unset mean the same to the build tasks.
func Compute(tree string, settings map[string]string) (Key, error) {
	if !treeID.MatchString(tree) {
		return "", fmt.Errorf("tree %q: not a Git object id", tree)
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		if !settingK.MatchString(k) {
			return "", fmt.Errorf("setting %q: names are lower-case letters, digits, dots and dashes", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	// Length-prefixed fields: no value can be made to look like another field.
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field(schema)
	field(tree)
	for _, k := range names {
		field(k)
		field(settings[k])
	}
	return Key(hex.EncodeToString(h.Sum(nil))), nil
}

// CleanPath checks that p names a directory inside a repository and returns it in the form
// git's HEAD:<path> syntax wants: slash-separated, no leading "./", "" for the root.
func CleanPath(p string) (string, error) {
	if strings.ContainsRune(p, '\\') || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q: must be a relative, slash-separated directory inside the repository", p)
	}
	c := path.Clean("/" + strings.TrimSpace(p))[1:]
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q: must not leave the repository", p)
		}
	}
	return c, nil
}

// ErrNoPath reports that the commit has no directory at the application's path.
var ErrNoPath = errors.New("no such directory at the commit")

// Tree returns the id of the Git tree at dir inside the checkout's HEAD commit. It reads only
// HEAD's own objects, so it works on a depth-1 clone, and it ignores the working tree: files a
// task wrote into the checkout do not change it.
func Tree(ctx context.Context, checkout, dir string) (string, error) {
	clean, err := CleanPath(dir)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	if clean == "" {
		out, err := git(ctx, checkout, "rev-parse", "--verify", "HEAD^{tree}")
		if err != nil {
			return "", err
		}
		return checkID(out)
	}
	// ls-tree names the entry's type, so a path that is a file is told apart from a directory.
	out, err := git(ctx, checkout, "ls-tree", "--full-tree", "-z", "HEAD", "--", clean)
	if err != nil {
		return "", err
	}
	for _, entry := range strings.Split(out, "\x00") {
		meta, name, ok := strings.Cut(entry, "\t")
		if !ok || name != clean {
			continue
		}
		if f := strings.Fields(meta); len(f) == 3 && f[1] == "tree" {
			return checkID(f[2])
		}
		return "", fmt.Errorf("path %q: %w (it is not a directory)", dir, ErrNoPath)
	}
	return "", fmt.Errorf("path %q: %w", dir, ErrNoPath)
}

func checkID(s string) (string, error) {
	id := strings.TrimSpace(s)
	if !treeID.MatchString(id) {
		return "", fmt.Errorf("git: %q is not a tree id", id)
	}
	return id, nil
}

// git runs one git command in dir and returns its standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}
