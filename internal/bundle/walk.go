package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ErrEscape marks a path or symlink that leads outside the checkout.
var ErrEscape = errors.New("leads outside the checkout")

// DefaultMaxLinkedEntries is how many entries a walk may meet through
// symlinks to directories: the hub's default --max-repo-files, within
// which the hub holds a checkout counting its entries the same way.
const DefaultMaxLinkedEntries = 20000

// WalkOptions tune Walk.
type WalkOptions struct {
	// SkipHidden skips files and directories whose name starts with a dot.
	// .git is always skipped.
	SkipHidden bool
	// MaxLinkedEntries bounds the entries met in directories reached
	// through a symlink, where a walk meets a directory once per path to
	// it: links to links make a tiny tree a huge walk. Past it the walk
	// fails. Zero means DefaultMaxLinkedEntries.
	MaxLinkedEntries int
}

// Walk visits the tree under dir (slash-separated, relative to the root)
// in lexical order, without visiting dir itself. It follows symlinks that
// stay inside the checkout and reports the others through Entry.Err. fn
// may return fs.SkipDir for a directory to skip it; any other error stops
// the walk.
//
// Each directory is opened once, through the os.Root, and listed; only
// symlinks are statted, through the os.Root too. One directory per level
// stays open while the walk is below it. Past opts.MaxLinkedEntries
// entries met through symlinks to directories, the walk stops with an
// error.
func (c *Checkout) Walk(dir string, opts WalkOptions, fn func(Entry) error) error {
	rel, err := CleanRel(dir)
	if err != nil {
		return err
	}
	info, err := c.Stat(rel)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("walking %s: not a directory", rel)
	}
	root, err := c.root.OpenRoot(filepath.FromSlash(rel))
	if err != nil {
		return fmt.Errorf("walking %s: %w", rel, c.explain(rel, err))
	}
	start := &walkDir{path: rel, root: root}
	defer start.close()
	w := walker{c: c, opts: opts, fn: fn, start: rel, maxLinked: opts.MaxLinkedEntries}
	if w.maxLinked <= 0 {
		w.maxLinked = DefaultMaxLinkedEntries
	}
	return w.dir(start, nil)
}

type walker struct {
	c     *Checkout
	opts  WalkOptions
	fn    func(Entry) error
	start string // the directory walked, for errors
	// linked counts the entries met through symlinks to directories, up
	// to maxLinked.
	linked, maxLinked int
}

// walkDir is a directory met by the walk: d.path is its path through
// symlinks. It is opened and listed when first needed, and closed when
// the walk leaves it. Only the goroutine running the walk uses it.
type walkDir struct {
	path string
	// linked: reached through a symlink, its own or an ancestor's.
	linked bool
	// parent opens it by name, confined to parent, when root is nil.
	parent *os.Root
	root   *os.Root
	// entries, listErr: its listing, once made.
	entries []fs.DirEntry
	listErr error
	listed  bool
	// id identifies it, to catch symlink loops; statted on first need.
	id fs.FileInfo
}

// ancestors is the chain of directories being walked, innermost first.
type ancestors struct {
	d  *walkDir
	up *ancestors
}

func (d *walkDir) open() (*os.Root, error) {
	if d.root == nil {
		r, err := d.parent.OpenRoot(path.Base(d.path))
		if err != nil {
			return nil, err
		}
		d.root = r
	}
	return d.root, nil
}

// list returns the directory's entries in lexical order.
func (d *walkDir) list() ([]fs.DirEntry, error) {
	if !d.listed {
		d.listed = true
		d.entries, d.listErr = d.readDir()
	}
	return d.entries, d.listErr
}

func (d *walkDir) readDir() ([]fs.DirEntry, error) {
	r, err := d.open()
	if err != nil {
		return nil, err
	}
	// Non-blocking from the start, so that os spends no fcntl calls
	// toggling it: a directory never blocks.
	f, err := r.OpenFile(".", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The d_type of each entry says file, directory or symlink: no stat.
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, hostless(err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

func (d *walkDir) identity() (fs.FileInfo, error) {
	if d.id == nil {
		r, err := d.open()
		if err != nil {
			return nil, err
		}
		if d.id, err = r.Stat("."); err != nil {
			return nil, err
		}
	}
	return d.id, nil
}

func (d *walkDir) close() {
	if d != nil && d.root != nil {
		d.root.Close()
		d.root = nil
	}
}

// dir walks one directory; up holds the directories it is in.
func (w *walker) dir(d *walkDir, up *ancestors) error {
	entries, err := d.list()
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", d.path, w.c.explain(d.path, err))
	}
	here := &ancestors{d: d, up: up}
	for _, de := range entries {
		name := de.Name()
		if name == ".git" || (w.opts.SkipHidden && strings.HasPrefix(name, ".")) {
			continue
		}
		if d.linked {
			if w.linked++; w.linked > w.maxLinked {
				return fmt.Errorf("walking %s: more than %d entries met through symlinks to directories, which the walk enters once per path to them", w.start, w.maxLinked)
			}
		}
		entry := Entry{Path: joinRel(d.path, name), c: w.c}
		switch typ := de.Type(); {
		case typ&fs.ModeSymlink != 0:
			entry = w.follow(entry, here)
		case typ.IsDir():
			entry.Dir = true
			entry.sub = &walkDir{path: entry.Path, parent: d.root, linked: d.linked}
		case typ.IsRegular():
			entry.in = d.root
		default:
			continue // sockets, devices, pipes: never manifests
		}
		if err := w.visit(entry, here); err != nil {
			return err
		}
	}
	return nil
}

// visit calls fn for one entry and walks it if it is a directory.
func (w *walker) visit(e Entry, here *ancestors) error {
	defer e.sub.close()
	err := w.fn(e)
	if errors.Is(err, fs.SkipDir) && e.Dir {
		return nil
	}
	if err != nil {
		return err
	}
	if e.Dir && e.Err == nil {
		return w.dir(e.sub, here)
	}
	return nil
}

// follow stats the symlink e through the os.Root, which follows it and
// refuses to leave the checkout; Resolve words a refusal. A directory is
// opened at once, and is a loop if it is one of the directories being
// walked.
func (w *walker) follow(e Entry, here *ancestors) Entry {
	info, err := w.c.root.Stat(filepath.FromSlash(e.Path))
	if err != nil {
		return brokenLink(e.Path, w.c.explain(e.Path, err))
	}
	if !info.IsDir() {
		if !info.Mode().IsRegular() {
			return Entry{Path: e.Path, Err: errors.New("symlink to a special file")}
		}
		return Entry{Path: e.Path, c: w.c}
	}
	root, err := w.c.root.OpenRoot(filepath.FromSlash(e.Path))
	if err != nil {
		return brokenLink(e.Path, w.c.explain(e.Path, err))
	}
	sub := &walkDir{path: e.Path, root: root, linked: true}
	// The identity of what was opened, not of what was statted: the loop
	// check holds even if the link changed in between.
	id, err := sub.identity()
	if err != nil {
		sub.close()
		return brokenLink(e.Path, err)
	}
	for a := here; a != nil; a = a.up {
		aid, err := a.d.identity()
		if err != nil {
			sub.close()
			return brokenLink(e.Path, err)
		}
		if os.SameFile(aid, id) {
			sub.close()
			return Entry{Path: e.Path, Dir: true, Err: errors.New("symlink loops")}
		}
	}
	return Entry{Path: e.Path, Dir: true, c: w.c, sub: sub}
}

func brokenLink(p string, err error) Entry {
	if errors.Is(err, ErrEscape) {
		return Entry{Path: p, Err: fmt.Errorf("symlink %w", ErrEscape)}
	}
	return Entry{Path: p, Err: fmt.Errorf("resolving symlink: %w", err)}
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
