// Package manifest holds the rendered-file type that crosses the seam between the renderer,
// the config-repo writer and the syncer. It imports only the standard library.
package manifest

import (
	"fmt"
	"path"
	"strings"
)

// File is one rendered file: a slash-separated path relative to an application's directory in
// the config repo, and its bytes.
type File struct {
	Path string
	Data []byte
}

// Validate reports whether f's path is a clean, relative path that stays inside its directory.
func (f File) Validate() error {
	if f.Path == "" {
		return fmt.Errorf("manifest file: empty path")
	}
	if path.IsAbs(f.Path) || strings.Contains(f.Path, `\`) {
		return fmt.Errorf("manifest file %q: path must be relative and slash-separated", f.Path)
	}
	if c := path.Clean(f.Path); c != f.Path || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("manifest file %q: path must be clean and stay inside its directory", f.Path)
	}
	return nil
}
