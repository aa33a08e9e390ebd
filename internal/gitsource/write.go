package gitsource

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// writePlan writes a checked plan into the empty directory dir. Every
// write goes through an os.Root on dir, so whatever the plan held, nothing
// lands outside it; and the symlinks are made last, so no directory or
// file is ever written through one. Directories are made one by one and
// files with O_EXCL: an entry that meets an existing one fails rather
// than following it.
func writePlan(objects storer.EncodedObjectStorer, p *plan, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening checkout directory: %w", err)
	}
	defer root.Close()
	for _, d := range p.dirs {
		if err := root.Mkdir(filepath.FromSlash(d), 0o755); err != nil {
			return fmt.Errorf("writing %q: %w", d, err)
		}
	}
	for _, f := range p.files {
		if err := writeFile(objects, root, f); err != nil {
			return fmt.Errorf("writing %q: %w", f.path, err)
		}
	}
	for _, l := range p.links {
		if err := root.Symlink(l.target, filepath.FromSlash(l.path)); err != nil {
			return fmt.Errorf("writing %q: %w", l.path, err)
		}
	}
	return nil
}

func writeFile(objects storer.EncodedObjectStorer, root *os.Root, pf planFile) (err error) {
	obj, err := objects.EncodedObject(plumbing.BlobObject, pf.hash)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", pf.hash, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", pf.hash, err)
	}
	defer r.Close()
	mode := fs.FileMode(0o644)
	if pf.exec {
		mode = 0o755
	}
	f, err := root.OpenFile(filepath.FromSlash(pf.path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	// The size was counted against the limit; never write more than that.
	n, err := io.Copy(f, io.LimitReader(r, pf.size))
	if err == nil && n != pf.size {
		err = fmt.Errorf("blob %s has %d bytes, its header said %d", pf.hash, n, pf.size)
	}
	return err
}
