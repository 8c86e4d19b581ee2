package configrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// errTipMoved reports that the remote branch no longer points at the commit a push was built
// on: someone else pushed first. Commit fetches and retries.
var errTipMoved = errors.New("the branch moved since it was fetched")

// push sends next to the branch as a fast-forward of parent (nil: the branch must not exist).
//
// It does the push itself instead of go-git's Remote.Push, which walks every object reachable
// from the remote's refs to decide what to send: a cost that grows with the config repo's
// whole history and is paid on every commit. Here the objects to send are known: next, and the
// trees and blobs of next's tree that parent's tree does not hold, found by comparing the two
// trees along the changed paths only.
//
// The ref update names parent as the old value, so the server applies it only if the branch
// still points there; a concurrent writer's commit can never be overwritten.
func (w *Writer) push(ctx context.Context, repo *git.Repository, branch string, parent, next *object.Commit) error {
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	ep, err := w.endpoint()
	if err != nil {
		return err
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewReceivePackSession(ep, w.auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	name := plumbing.NewBranchReferenceName(branch)
	old := plumbing.ZeroHash
	if parent != nil {
		old = parent.Hash
	}
	switch adv.References[name.String()] {
	case next.Hash:
		return nil // an earlier attempt landed after all
	case old:
	default:
		return errTipMoved
	}

	hashes, err := newObjects(repo.Storer, parent, next)
	if err != nil {
		return fmt.Errorf("list objects to push: %w", err)
	}
	// The pack is small (one commit's changed trees and files), so it is built in memory before
	// the request starts rather than streamed from a goroutine.
	var pack bytes.Buffer
	refDeltas := !adv.Capabilities.Supports(capability.OFSDelta)
	if _, err := packfile.NewEncoder(&pack, repo.Storer, refDeltas).Encode(hashes, 10); err != nil {
		return fmt.Errorf("encode pack: %w", err)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	req.Commands = []*packp.Command{{Name: name, Old: old, New: next.Hash}}
	req.Packfile = io.NopCloser(&pack)
	status, err := sess.ReceivePack(ctx, req)
	if err != nil {
		return err
	}
	if status != nil {
		if err := status.Error(); err != nil {
			return err
		}
	}
	// The next fetch then tells the server it has next, so next is not sent back.
	tracking := plumbing.NewHashReference(plumbing.NewRemoteReferenceName(remoteName, branch), next.Hash)
	if err := repo.Storer.SetReference(tracking); err != nil {
		return fmt.Errorf("record pushed tip: %w", err)
	}
	return nil
}

// endpoint is the remote's transport endpoint with the trusted CA certificates.
func (w *Writer) endpoint() (*transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(w.url)
	if err != nil {
		return nil, err
	}
	ep.CaBundle = w.caBundle
	return ep, nil
}

// newObjects lists next and every tree and blob of its tree that is not in parent's tree.
// The remote holds everything reachable from parent, so these are all it lacks. An object
// that is new at one path but exists elsewhere in the repository is listed anyway; sending
// it twice is harmless and finding it would need the whole-repository walk this avoids.
func newObjects(s storer.EncodedObjectStorer, parent, next *object.Commit) ([]plumbing.Hash, error) {
	old := plumbing.ZeroHash
	if parent != nil {
		old = parent.TreeHash
	}
	seen := map[plumbing.Hash]bool{next.Hash: true}
	hashes := []plumbing.Hash{next.Hash}
	add := func(h plumbing.Hash) {
		if !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	var walk func(tree, was plumbing.Hash) error
	walk = func(tree, was plumbing.Hash) error {
		if tree == was || seen[tree] {
			return nil
		}
		add(tree)
		t, err := object.GetTree(s, tree)
		if err != nil {
			return fmt.Errorf("read tree %s: %w", tree, err)
		}
		before := map[string]object.TreeEntry{}
		if !was.IsZero() {
			wt, err := object.GetTree(s, was)
			if err != nil {
				return fmt.Errorf("read tree %s: %w", was, err)
			}
			for _, e := range wt.Entries {
				before[e.Name] = e
			}
		}
		for _, e := range t.Entries {
			prev, existed := before[e.Name]
			if existed && prev.Hash == e.Hash {
				continue
			}
			switch e.Mode {
			case filemode.Dir:
				sub := plumbing.ZeroHash
				if existed && prev.Mode == filemode.Dir {
					sub = prev.Hash
				}
				if err := walk(e.Hash, sub); err != nil {
					return err
				}
			case filemode.Submodule:
				// A commit of another repository: not an object of this one.
			default:
				add(e.Hash)
			}
		}
		return nil
	}
	if err := walk(next.TreeHash, old); err != nil {
		return nil, err
	}
	return hashes, nil
}
