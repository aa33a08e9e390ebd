package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// download lists the remote's refs and, unless the cache already holds the
// branch's head commit, fetches the objects it lacks. It returns the head
// and whether a pack was downloaded.
//
// It speaks upload-pack through this Fetcher's own transports rather than
// Remote.Fetch, which would look the scheme up in go-git's global table.
func (f *Fetcher) download(ctx context.Context, repo *git.Repository, ep *transport.Endpoint, ref plumbing.ReferenceName) (plumbing.Hash, bool, error) {
	t, ok := f.transports[ep.Protocol]
	if !ok {
		return plumbing.ZeroHash, false, fmt.Errorf("unsupported scheme %q", ep.Protocol)
	}
	sess, err := t.NewUploadPackSession(ep, nil)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("opening session: %w", err)
	}
	defer sess.Close()

	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("listing refs: %w", err)
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("listing refs: %w", err)
	}
	remote, ok := refs[ref]
	if !ok || remote.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, false, fmt.Errorf("%w: %s", ErrBranchNotFound, ref.Short())
	}
	head := remote.Hash()

	fetched := false
	if _, err := repo.CommitObject(head); err != nil {
		if !errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, false, fmt.Errorf("reading cache: %w", err)
		}
		if err := fetchPack(ctx, repo, sess, adv, head); err != nil {
			return plumbing.ZeroHash, false, err
		}
		fetched = true
	}
	// The ref is what the next fetch offers as "have"; it also keeps the
	// objects reachable should anyone run git gc on the cache.
	if err := repo.Storer.SetReference(plumbing.NewHashReference(ref, head)); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("updating cache ref: %w", err)
	}
	if _, err := repo.CommitObject(head); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("reading fetched commit %s: %w", head, err)
	}
	return head, fetched, nil
}

// fetchPack asks for want, offering every branch head the cache holds, and
// stores the pack the remote sends.
func fetchPack(ctx context.Context, repo *git.Repository, sess transport.UploadPackSession, adv *packp.AdvRefs, want plumbing.Hash) (err error) {
	req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	if adv.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return fmt.Errorf("building request: %w", err)
		}
	}
	req.Wants = []plumbing.Hash{want}
	haves, err := localHeads(repo)
	if err != nil {
		return err
	}
	req.Haves = haves

	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil // the cache had everything after all
	}
	if err != nil {
		return fmt.Errorf("requesting pack: %w", err)
	}
	defer func() {
		if cerr := resp.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing pack: %w", cerr)
		}
	}()
	if err := packfile.UpdateObjectStorage(repo.Storer, demux(req.Capabilities, resp)); err != nil {
		return fmt.Errorf("storing pack: %w", err)
	}
	return nil
}

// localHeads returns the commits the cache's branches point at.
func localHeads(repo *git.Repository) ([]plumbing.Hash, error) {
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("listing cache refs: %w", err)
	}
	var haves []plumbing.Hash
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && r.Name().IsBranch() {
			haves = append(haves, r.Hash())
		}
		return nil
	})
	if err != nil && !errors.Is(err, storer.ErrStop) {
		return nil, fmt.Errorf("listing cache refs: %w", err)
	}
	return haves, nil
}

// demux strips the side-band framing when the request asked for it.
func demux(caps *capability.List, r io.Reader) io.Reader {
	switch {
	case caps.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, r)
	case caps.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, r)
	default:
		return r
	}
}
