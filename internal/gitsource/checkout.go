package gitsource

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

const revPrefix = "rev-"

// checkout returns the revision directory of commit under srcDir, writing
// it first if it does not exist. It reports whether it wrote it.
//
// The whole tree is read and checked first (planCheckout): a commit that
// is refused leaves nothing on disk. It is then written to a temporary
// directory and renamed into place, so a rev-<sha> directory that exists
// is complete.
func checkout(repo *git.Repository, commit plumbing.Hash, srcDir string, lim limits) (Revision, bool, error) {
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
	p, err := planCheckout(repo.Storer, c.TreeHash, lim)
	if err != nil {
		return Revision{}, false, fmt.Errorf("checking out %s: %w", commit, err)
	}
	tmp, err := os.MkdirTemp(srcDir, ".checkout-")
	if err != nil {
		return Revision{}, false, fmt.Errorf("creating checkout directory: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writePlan(repo.Storer, p, tmp); err != nil {
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
