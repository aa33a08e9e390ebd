package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	// a file reached by a link is named by the link's path.
	Path string
	// Real is the file's absolute path with every symlink resolved.
	Real string
	Dir  bool
	// Err is set, and Real empty, for an entry that cannot be followed: a
	// symlink that leaves the root (wrapping ErrEscape), dangles or loops.
	// Its message does not repeat Path.
	Err error
}

// Walk visits the tree under dir (slash-separated, relative to root) in
// lexical order, without visiting dir itself. It follows symlinks that stay
// inside root and reports the others through Entry.Err. fn may return
// fs.SkipDir for a directory to skip it; any other error stops the walk.
func Walk(root, dir string, opts WalkOptions, fn func(Entry) error) error {
	realRoot, err := RealRoot(root)
	if err != nil {
		return err
	}
	rel, err := CleanRel(dir)
	if err != nil {
		return err
	}
	start, err := Resolve(realRoot, rel)
	if err != nil {
		return err
	}
	info, err := os.Stat(start)
	if err != nil {
		return fmt.Errorf("walking %s: %w", rel, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("walking %s: not a directory", rel)
	}
	w := walker{root: realRoot, opts: opts, fn: fn}
	return w.dir(rel, start, []string{start})
}

type walker struct {
	root string
	opts WalkOptions
	fn   func(Entry) error
}

// dir walks one directory; stack holds the real paths of the directories
// being walked, to catch symlink loops.
func (w *walker) dir(rel, real string, stack []string) error {
	entries, err := os.ReadDir(real)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", rel, err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == ".git" || (w.opts.SkipHidden && strings.HasPrefix(name, ".")) {
			continue
		}
		entry := Entry{Path: joinRel(rel, name), Real: filepath.Join(real, name), Dir: e.IsDir()}
		if e.Type()&fs.ModeSymlink != 0 {
			entry = w.follow(entry, stack)
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
			if err := w.dir(entry.Path, entry.Real, append(stack, entry.Real)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) follow(e Entry, stack []string) Entry {
	target, err := filepath.EvalSymlinks(e.Real)
	if err != nil {
		return Entry{Path: e.Path, Err: fmt.Errorf("resolving symlink: %w", err)}
	}
	if !within(w.root, target) {
		return Entry{Path: e.Path, Err: fmt.Errorf("symlink %w", ErrEscape)}
	}
	info, err := os.Stat(target)
	if err != nil {
		return Entry{Path: e.Path, Err: fmt.Errorf("resolving symlink: %w", err)}
	}
	if info.IsDir() {
		for _, s := range stack {
			if s == target {
				return Entry{Path: e.Path, Dir: true, Err: errors.New("symlink loops")}
			}
		}
	}
	return Entry{Path: e.Path, Real: target, Dir: info.IsDir()}
}

// RealRoot returns root as an absolute path with symlinks resolved.
func RealRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolving checkout root: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolving checkout root: %w", err)
	}
	return real, nil
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

// Resolve returns the real path of rel (relative to the real root),
// refusing one whose symlinks lead outside the root.
func Resolve(realRoot, rel string) (string, error) {
	target, err := filepath.EvalSymlinks(filepath.Join(realRoot, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	if !within(realRoot, target) {
		return "", fmt.Errorf("%s %w", rel, ErrEscape)
	}
	return target, nil
}

func within(root, p string) bool {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return r == "." || (r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)))
}

func joinRel(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}
