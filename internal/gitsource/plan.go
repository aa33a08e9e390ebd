package gitsource

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// plan is everything a checkout writes, read from the tree and checked
// before the first byte is written.
type plan struct {
	dirs  []string // parents before their children
	files []planFile
	links []planLink
	// kinds holds every path written, for resolving symlinks through one
	// another; submodules are not written and not in it.
	kinds map[string]kind
}

type kind uint8

const (
	kindDir kind = iota + 1
	kindFile
	kindLink
)

type planFile struct {
	path string
	hash plumbing.Hash
	size int64
	exec bool
}

type planLink struct {
	path, target string
}

// planner reads a commit's trees into a plan within limits.
type planner struct {
	objects storer.EncodedObjectStorer
	lim     limits
	p       *plan
	entries int   // read so far, of every kind
	bytes   int64 // of files and symlink targets so far
}

// planCheckout reads the tree h and every tree under it, and refuses it
// (*TreeError) if git would refuse an entry, if a limit is passed (the
// entries counted as a walk through the symlinks meets them too), or if
// a symlink, followed through the tree's other symlinks, would lead
// outside the checkout.
func planCheckout(objects storer.EncodedObjectStorer, h plumbing.Hash, lim limits) (*plan, error) {
	pl := &planner{objects: objects, lim: lim, p: &plan{kinds: map[string]kind{}}}
	if err := pl.tree("", h, 0); err != nil {
		return nil, err
	}
	if err := checkLinks(pl.p, pl.lim); err != nil {
		return nil, err
	}
	return pl.p, nil
}

func (pl *planner) tree(dir string, h plumbing.Hash, depth int) error {
	if depth > pl.lim.depth {
		return pl.lim.tooDeep(dir)
	}
	entries, err := readTreeEntries(pl.objects, h, pl.lim.files-pl.entries)
	var te *TreeError
	switch {
	case errors.Is(err, errTooManyEntries):
		return pl.lim.tooManyFiles()
	case errors.As(err, &te):
		if te.Path == "" {
			te.Path = dir
		} else {
			te.Path = joinPath(dir, te.Path)
		}
		return te
	case err != nil:
		return err
	}
	pl.entries += len(entries)
	if te := checkTree(dir, entries); te != nil {
		return te
	}
	for _, e := range entries {
		if err := pl.entry(joinPath(dir, e.name), e, depth); err != nil {
			return err
		}
	}
	return nil
}

func (pl *planner) entry(path string, e rawEntry, depth int) error {
	if _, dup := pl.p.kinds[path]; dup {
		// checkTree refuses this first; kept so that no path can be
		// written twice whatever it misses.
		return refuse(path, "duplicate path")
	}
	switch e.mode {
	case filemode.Dir:
		pl.p.dirs = append(pl.p.dirs, path)
		pl.p.kinds[path] = kindDir
		return pl.tree(path, e.hash, depth+1)
	case filemode.Regular, filemode.Deprecated, filemode.Executable:
		size, err := pl.blobSize(path, e.hash)
		if err != nil {
			return err
		}
		pl.p.files = append(pl.p.files, planFile{path: path, hash: e.hash, size: size, exec: e.mode == filemode.Executable})
		pl.p.kinds[path] = kindFile
	case filemode.Symlink:
		target, err := pl.symlinkTarget(path, e.hash)
		if err != nil {
			return err
		}
		pl.p.links = append(pl.p.links, planLink{path: path, target: target})
		pl.p.kinds[path] = kindLink
	case filemode.Submodule:
		// Not fetched: the source's own tree is what it declares.
	default:
		return refuse(path, "unsupported file mode %o", uint32(e.mode))
	}
	return nil
}

// blobSize counts a blob against the byte limit without reading it.
func (pl *planner) blobSize(path string, h plumbing.Hash) (int64, error) {
	obj, err := pl.objects.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return 0, fmt.Errorf("reading blob %s of %q: %w", h, path, err)
	}
	size := obj.Size()
	if pl.bytes += size; pl.bytes > pl.lim.bytes {
		return 0, pl.lim.tooManyBytes()
	}
	return size, nil
}

func (pl *planner) symlinkTarget(path string, h plumbing.Hash) (string, error) {
	obj, err := pl.objects.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return "", fmt.Errorf("reading blob %s of %q: %w", h, path, err)
	}
	if obj.Size() > pl.lim.symlinkSize {
		return "", pl.lim.targetTooLong(path, obj.Size())
	}
	if pl.bytes += obj.Size(); pl.bytes > pl.lim.bytes {
		return "", pl.lim.tooManyBytes()
	}
	r, err := obj.Reader()
	if err != nil {
		return "", fmt.Errorf("reading blob %s of %q: %w", h, path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, pl.lim.symlinkSize+1))
	if err != nil {
		return "", fmt.Errorf("reading blob %s of %q: %w", h, path, err)
	}
	target := string(data)
	switch {
	case target == "":
		return "", refuse(path, "symlink target is empty")
	case int64(len(data)) > pl.lim.symlinkSize:
		return "", pl.lim.targetTooLong(path, int64(len(data)))
	case strings.ContainsRune(target, 0):
		return "", refuse(path, "symlink target contains NUL")
	case strings.HasPrefix(target, "/"):
		return "", refuse(path, "symlink target %q leaves the repository: it is absolute", target)
	}
	return target, nil
}
