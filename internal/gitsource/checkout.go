package gitsource

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const revPrefix = "rev-"

// checkout returns the revision directory of commit under srcDir, writing
// it first if it does not exist. It reports whether it wrote it.
//
// The tree is written to a temporary directory and renamed into place, so
// a rev-<sha> directory that exists is complete.
func checkout(repo *git.Repository, commit plumbing.Hash, srcDir string) (Revision, bool, error) {
	rev := Revision{Commit: commit.String(), Dir: filepath.Join(srcDir, revPrefix+commit.String())}
	if fi, err := os.Stat(rev.Dir); err == nil && fi.IsDir() {
		// Mark it as the newest for prune.
		now := time.Now()
		if err := os.Chtimes(rev.Dir, now, now); err != nil {
			return Revision{}, false, fmt.Errorf("touching revision: %w", err)
		}
		return rev, false, nil
	}
	c, err := repo.CommitObject(commit)
	if err != nil {
		return Revision{}, false, fmt.Errorf("reading commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return Revision{}, false, fmt.Errorf("reading tree of %s: %w", commit, err)
	}
	tmp, err := os.MkdirTemp(srcDir, ".checkout-")
	if err != nil {
		return Revision{}, false, fmt.Errorf("creating checkout directory: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writeTree(repo, tree, tmp); err != nil {
		return Revision{}, false, fmt.Errorf("checking out %s: %w", commit, err)
	}
	// MkdirTemp makes 0700; readers such as a renderer run as other users.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Revision{}, false, fmt.Errorf("checking out %s: %w", commit, err)
	}
	if err := os.Rename(tmp, rev.Dir); err != nil {
		return Revision{}, false, fmt.Errorf("checking out %s: %w", commit, err)
	}
	return rev, true, nil
}

// writeTree writes every file of tree under dir. Submodules are skipped;
// symlinks must stay inside the tree.
func writeTree(repo *git.Repository, tree *object.Tree, dir string) error {
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("walking tree: %w", err)
		}
		if !safePath(name) {
			return fmt.Errorf("unsafe path %q in tree", name)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		switch entry.Mode {
		case filemode.Dir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			if err := writeBlob(repo, entry, path); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
		case filemode.Symlink:
			if err := writeSymlink(repo, entry, name, path); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
		case filemode.Submodule:
			// Not fetched: the source's own tree is what it declares.
		default:
			return fmt.Errorf("%s: unsupported file mode %s", name, entry.Mode)
		}
	}
}

// safePath reports whether a tree path stays inside the checkout and does
// not reach into a .git directory.
func safePath(name string) bool {
	if !filepath.IsLocal(filepath.FromSlash(name)) || strings.Contains(name, "\\") {
		return false
	}
	for part := range strings.SplitSeq(name, "/") {
		if strings.EqualFold(part, ".git") {
			return false
		}
	}
	return true
}

func writeBlob(repo *git.Repository, entry object.TreeEntry, path string) (err error) {
	blob, err := repo.BlobObject(entry.Hash)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", entry.Hash, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	mode := fs.FileMode(0o644)
	if entry.Mode == filemode.Executable {
		mode = 0o755
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(f, r)
	return err
}

// writeSymlink creates a relative symlink whose target stays inside the
// checkout; an absolute or escaping target could expose host files to
// whoever reads the revision.
func writeSymlink(repo *git.Repository, entry object.TreeEntry, name, path string) error {
	blob, err := repo.BlobObject(entry.Hash)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", entry.Hash, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	target, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return err
	}
	resolved := filepath.Join(filepath.Dir(filepath.FromSlash(name)), string(target))
	if filepath.IsAbs(string(target)) || !filepath.IsLocal(resolved) {
		return fmt.Errorf("symlink target %q leaves the repository", target)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.Symlink(string(target), path)
}

// prune removes the revision directories of srcDir beyond the keep most
// recently used, never current, and any checkout left half-written.
func prune(srcDir, current string, keep int) error {
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return err
	}
	type rev struct {
		path string
		mod  time.Time
	}
	var revs []rev
	var errs []error
	for _, e := range entries {
		path := filepath.Join(srcDir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), ".checkout-"):
			// Our lock is held, so no checkout is in progress.
			errs = append(errs, os.RemoveAll(path))
		case strings.HasPrefix(e.Name(), revPrefix) && e.IsDir():
			info, err := e.Info()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			revs = append(revs, rev{path, info.ModTime()})
		}
	}
	slices.SortFunc(revs, func(a, b rev) int {
		if c := b.mod.Compare(a.mod); c != 0 {
			return c
		}
		return strings.Compare(b.path, a.path)
	})
	others := 0
	for _, r := range revs {
		if r.path == current {
			continue
		}
		if others < keep-1 {
			others++
			continue
		}
		errs = append(errs, os.RemoveAll(r.path))
	}
	return errors.Join(errs...)
}
