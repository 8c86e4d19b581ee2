package configrepo

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"slipway.dev/slipway/engine/manifest"
)

// dirNode is one directory of a Change's files while its tree objects are being built.
type dirNode struct {
	files map[string][]byte
	dirs  map[string]*dirNode
}

func newDirNode() *dirNode {
	return &dirNode{files: map[string][]byte{}, dirs: map[string]*dirNode{}}
}

// buildFileTree writes the blobs and trees for files and returns the tree's hash, or the zero
// hash when files is empty. It rejects duplicate paths and a path that is both a file and a
// directory, naming the offending file.
func buildFileTree(s storer.EncodedObjectStorer, files []manifest.File) (plumbing.Hash, error) {
	if len(files) == 0 {
		return plumbing.ZeroHash, nil
	}
	root := newDirNode()
	for _, f := range files {
		parts := strings.Split(f.Path, "/")
		n := root
		for _, p := range parts[:len(parts)-1] {
			if _, isFile := n.files[p]; isFile {
				return plumbing.ZeroHash, fmt.Errorf("manifest file %q: a parent is also a file", f.Path)
			}
			child, ok := n.dirs[p]
			if !ok {
				child = newDirNode()
				n.dirs[p] = child
			}
			n = child
		}
		name := parts[len(parts)-1]
		if _, dup := n.files[name]; dup {
			return plumbing.ZeroHash, fmt.Errorf("manifest file %q: listed twice", f.Path)
		}
		if _, isDir := n.dirs[name]; isDir {
			return plumbing.ZeroHash, fmt.Errorf("manifest file %q: also a directory", f.Path)
		}
		n.files[name] = f.Data
	}
	return writeDirNode(s, root)
}

func writeDirNode(s storer.EncodedObjectStorer, n *dirNode) (plumbing.Hash, error) {
	entries := make([]object.TreeEntry, 0, len(n.files)+len(n.dirs))
	for name, data := range n.files {
		h, err := writeBlob(s, data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	}
	for name, child := range n.dirs {
		h, err := writeDirNode(s, child)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	return writeTree(s, entries)
}

// replaceDir returns the hash of tree root with the directory comps[depth:] below it replaced
// by sub (the zero hash deletes it). Directories left empty are removed, since Git trees
// cannot hold them; an empty tree comes back as the zero hash. root may be the zero hash.
func replaceDir(s storer.EncodedObjectStorer, root plumbing.Hash, comps []string, depth int, sub plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !root.IsZero() {
		t, err := object.GetTree(s, root)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", root, err)
		}
		entries = make([]object.TreeEntry, 0, len(t.Entries)+1)
		entries = append(entries, t.Entries...)
	}
	name := comps[depth]
	existing := plumbing.ZeroHash
	for i, e := range entries {
		if e.Name != name {
			continue
		}
		// Never silently replace something that is not a directory: the Change's Dir is
		// meant to be a directory, and a file there means the layout is not what we think.
		if e.Mode != filemode.Dir {
			return plumbing.ZeroHash, fmt.Errorf("%q is not a directory in the config repo", strings.Join(comps[:depth+1], "/"))
		}
		existing = e.Hash
		entries = append(entries[:i], entries[i+1:]...)
		break
	}
	child := sub
	if depth+1 < len(comps) {
		var err error
		if child, err = replaceDir(s, existing, comps, depth+1, sub); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if !child.IsZero() {
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: child})
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	return writeTree(s, entries)
}

// writeTree stores a tree with its entries in Git's canonical order, so that equal content
// always yields the same hash (the no-change check relies on it).
func writeTree(s storer.EncodedObjectStorer, entries []object.TreeEntry) (plumbing.Hash, error) {
	sort.Slice(entries, func(i, j int) bool { return treeSortKey(entries[i]) < treeSortKey(entries[j]) })
	o := s.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	h, err := s.SetEncodedObject(o)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store tree: %w", err)
	}
	return h, nil
}

// treeSortKey is the name Git sorts a tree entry by: directories compare as if followed by '/'.
func treeSortKey(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

func writeBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	o := s.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	o.SetSize(int64(len(data)))
	wr, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	if _, err := wr.Write(data); err != nil {
		_ = wr.Close()
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	if err := wr.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	h, err := s.SetEncodedObject(o)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	return h, nil
}

// emptyTree stores and returns Git's empty tree, the tree of a branch whose last directory was
// deleted.
func emptyTree(s storer.EncodedObjectStorer) (plumbing.Hash, error) {
	return writeTree(s, nil)
}
