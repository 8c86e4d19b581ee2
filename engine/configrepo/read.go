package configrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"slipway.dev/slipway/engine/manifest"
)

// Read fetches branch and returns its tip revision and every file under dir at that tip,
// recursively, with paths relative to dir and sorted. An empty dir means the whole repository.
// A missing branch or directory is ErrNotFound, never an empty list, so that a caller that
// prunes what is not listed cannot mistake a wrong path for "delete everything".
func (w *Writer) Read(ctx context.Context, branch, dir string) (revision string, files []manifest.File, err error) {
	if err := validateBranch(branch); err != nil {
		return "", nil, err
	}
	if dir != "" {
		if err := validateDir(dir); err != nil {
			return "", nil, err
		}
	}
	unlock := w.lockBranch(branch)
	defer unlock()

	repo, err := w.cache(branch)
	if err != nil {
		return "", nil, fmt.Errorf("read dir %q: %w", dir, err)
	}
	tip, err := w.fetchTip(ctx, repo, branch)
	if err != nil {
		return "", nil, fmt.Errorf("read dir %q: %w", dir, err)
	}
	if tip == nil {
		return "", nil, fmt.Errorf("read branch %q: %w", branch, ErrNotFound)
	}
	files, err = readTree(tip, dir)
	if err != nil {
		return "", nil, fmt.Errorf("read dir %q at %s: %w", dir, tip.Hash, err)
	}
	return tip.Hash.String(), files, nil
}

func readTree(tip *object.Commit, dir string) ([]manifest.File, error) {
	tree, err := tip.Tree()
	if err != nil {
		return nil, err
	}
	if dir != "" {
		tree, err = tree.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
	}
	var files []manifest.File
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch entry.Mode {
		case filemode.Dir:
			continue
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
		default:
			// Symlinks and submodules are never written by a Writer; applying their target
			// as a manifest would be wrong, so refuse instead of guessing.
			return nil, fmt.Errorf("%q: unsupported entry mode %s", name, entry.Mode)
		}
		blob, err := tree.TreeEntryFile(&entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
		data, err := readBlob(blob)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
		files = append(files, manifest.File{Path: name, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

func readBlob(f *object.File) ([]byte, error) {
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Head returns the SHA at the tip of branch without fetching any objects, or ErrNotFound.
func (w *Writer) Head(ctx context.Context, branch string) (string, error) {
	if err := validateBranch(branch); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{w.url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: w.auth, CABundle: w.caBundle})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return "", fmt.Errorf("head of branch %q: %w", branch, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("head of branch %q: list remote refs: %w", branch, err)
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, ref := range refs {
		if ref.Name() == want && ref.Type() == plumbing.HashReference {
			return ref.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("head of branch %q: %w", branch, ErrNotFound)
}
