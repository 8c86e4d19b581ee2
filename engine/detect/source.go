package detect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// MaxFileSize caps how much of any one file detection reads; manifests are far smaller.
const MaxFileSize = 1 << 20

// maxDirEntries caps how many entries of one directory detection looks at.
const maxDirEntries = 10000

// ErrFileTooLarge is returned for a manifest over MaxFileSize.
var ErrFileTooLarge = errors.New("file too large")

// source reads an application's files through an os.Root, so no path and no symlink leads
// outside the repository, and no read is larger than MaxFileSize.
type source struct {
	root *os.Root
	dir  string // the application's directory inside root, "." for the root itself
}

// cleanSubPath checks an application's path inside the repository the way the Application's
// validation does: relative, no "..", and returns it cleaned ("." for the root).
func cleanSubPath(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q: must be relative to the repository", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q: must stay inside the repository", p)
		}
	}
	return path.Clean(p), nil
}

// name returns the path of a file of the application relative to the repository root.
func (s *source) name(rel string) string {
	return path.Join(s.dir, rel)
}

// stat reports whether rel exists in the application's directory and is a regular file (after
// following symlinks that stay inside the repository).
func (s *source) isFile(rel string) bool {
	fi, err := s.root.Stat(s.name(rel))
	return err == nil && fi.Mode().IsRegular()
}

func (s *source) isDir(rel string) bool {
	fi, err := s.root.Stat(s.name(rel))
	return err == nil && fi.IsDir()
}

// read returns the content of rel, at most MaxFileSize bytes. A missing file gives an error
// matching fs.ErrNotExist.
func (s *source) read(rel string) ([]byte, error) {
	f, err := s.root.Open(s.name(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name(rel), err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", s.name(rel))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.name(rel), err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", s.name(rel), ErrFileTooLarge, MaxFileSize)
	}
	return b, nil
}

// readOptional is read where a missing file is not an error: it returns nil, nil.
func (s *source) readOptional(rel string) ([]byte, error) {
	b, err := s.read(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// list returns the sorted entry names of the directory rel (at most maxDirEntries of them);
// a missing directory lists as empty.
func (s *source) list(rel string) ([]fs.DirEntry, error) {
	f, err := s.root.Open(s.name(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(maxDirEntries)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("list %s: %w", s.name(rel), err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, nil
}
