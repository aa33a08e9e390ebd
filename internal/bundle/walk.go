package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

// ErrEscape marks a path or symlink that leads outside the checkout.
var ErrEscape = errors.New("leads outside the checkout")

// WalkOptions tune Walk.
type WalkOptions struct {
	// SkipHidden skips files and directories whose name starts with a dot.
	// .git is always skipped.
	SkipHidden bool
}

// Entry is one file or directory met by Walk.
type Entry struct {
	// Path is slash-separated and relative to the root, through symlinks:
	// a file reached by a link is named by the link's path. Read it with
	// the Checkout's methods.
	Path string
	Dir  bool
	// Err is set for an entry that cannot be followed: a symlink that
	// leaves the root (wrapping ErrEscape), dangles or loops. Its message
	// does not repeat Path.
	Err error
}

// Walk visits the tree under dir (slash-separated, relative to the root)
// in lexical order, without visiting dir itself. It follows symlinks that
// stay inside the checkout and reports the others through Entry.Err. fn
// may return fs.SkipDir for a directory to skip it; any other error stops
// the walk.
func (c *Checkout) Walk(dir string, opts WalkOptions, fn func(Entry) error) error {
	rel, err := CleanRel(dir)
	if err != nil {
		return err
	}
	start, err := c.Resolve(rel)
	if err != nil {
		return err
	}
	info, err := c.root.Stat(filepath.FromSlash(start))
	if err != nil {
		return fmt.Errorf("walking %s: %w", rel, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("walking %s: not a directory", rel)
	}
	w := walker{c: c, opts: opts, fn: fn}
	return w.dir(rel, start, []string{start})
}

type walker struct {
	c    *Checkout
	opts WalkOptions
	fn   func(Entry) error
}

// dir walks one directory: rel is its path through symlinks, real its
// path without any; stack holds the real paths of the directories being
// walked, to catch symlink loops.
func (w *walker) dir(rel, real string, stack []string) error {
	entries, err := w.c.readDir(real)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", rel, err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == ".git" || (w.opts.SkipHidden && strings.HasPrefix(name, ".")) {
			continue
		}
		entry := Entry{Path: joinRel(rel, name), Dir: e.IsDir()}
		entryReal := joinRel(real, name)
		if e.Type()&fs.ModeSymlink != 0 {
			entry, entryReal = w.follow(entry, entryReal, stack)
		} else if !e.IsDir() && !e.Type().IsRegular() {
			continue // sockets, devices, pipes: never manifests
		}
		err := w.fn(entry)
		if errors.Is(err, fs.SkipDir) && entry.Dir {
			continue
		}
		if err != nil {
			return err
		}
		if entry.Dir && entry.Err == nil {
			if err := w.dir(entry.Path, entryReal, append(stack, entryReal)); err != nil {
				return err
			}
		}
	}
	return nil
}

// follow resolves the symlink at real (whose directory has no symlinks)
// and returns the entry and where it leads.
func (w *walker) follow(e Entry, real string, stack []string) (Entry, string) {
	target, err := w.c.Resolve(real)
	if errors.Is(err, ErrEscape) {
		return Entry{Path: e.Path, Err: fmt.Errorf("symlink %w", ErrEscape)}, ""
	}
	if err != nil {
		return Entry{Path: e.Path, Err: fmt.Errorf("resolving symlink: %w", err)}, ""
	}
	info, err := w.c.root.Stat(filepath.FromSlash(target))
	if err != nil {
		return Entry{Path: e.Path, Err: fmt.Errorf("resolving symlink: %w", err)}, ""
	}
	if info.IsDir() {
		for _, s := range stack {
			if s == target {
				return Entry{Path: e.Path, Dir: true, Err: errors.New("symlink loops")}, ""
			}
		}
	} else if !info.Mode().IsRegular() {
		return Entry{Path: e.Path, Err: errors.New("symlink to a special file")}, ""
	}
	return Entry{Path: e.Path, Dir: info.IsDir()}, target
}

// CleanRel cleans a slash-separated path relative to the root; "" and "."
// become ".". Absolute paths and paths that climb above the root are
// refused.
func CleanRel(p string) (string, error) {
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.HasPrefix(p, "/") || filepath.IsAbs(p) {
		return "", fmt.Errorf("path %q is absolute: %w", p, ErrEscape)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q %w", p, ErrEscape)
	}
	return c, nil
}

func joinRel(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}
