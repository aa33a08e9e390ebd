package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// maxSymlinkHops bounds symlinks followed through one another, as Linux
// does (MAXSYMLINKS).
const maxSymlinkHops = 40

// errLoop is a chain of symlinks longer than maxSymlinkHops: a loop, or as
// good as one.
var errLoop = errors.New("too many levels of symbolic links")

// Checkout is a checkout opened for reading. Every file is opened through
// an os.Root on its directory, so no path and no symlink reaches a file
// outside it, even if the tree on disk changed after it was checked out.
// Paths are slash-separated and relative to the root. It is safe for
// concurrent use.
type Checkout struct {
	root *os.Root
}

// OpenCheckout opens the checkout at dir; Close releases it.
func OpenCheckout(dir string) (*Checkout, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening checkout: %w", err)
	}
	return &Checkout{root: root}, nil
}

// Close releases the checkout's directory.
func (c *Checkout) Close() error { return c.root.Close() }

// Resolve returns rel with every symlink in it followed: a clean path,
// relative to the root, through real directories only. A path or symlink
// that climbs above the root, or an absolute symlink, is an error
// wrapping ErrEscape ("<rel> leads outside the checkout"); a missing
// component is an error wrapping fs.ErrNotExist. It is for saying why:
// reads go through the os.Root, which follows symlinks itself and refuses
// to leave the checkout whatever Resolve said.
func (c *Checkout) Resolve(rel string) (string, error) {
	clean, err := CleanRel(rel)
	if err != nil {
		return "", err
	}
	var done []string // components resolved: real directories, or the last one
	todo := splitRel(clean)
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", fmt.Errorf("%s %w", clean, ErrEscape)
			}
			done = done[:len(done)-1]
			continue
		}
		p := path.Join(append(done, name)...)
		info, err := c.root.Lstat(filepath.FromSlash(p))
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			done = append(done, name)
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", &fs.PathError{Op: "resolve", Path: clean, Err: errLoop}
		}
		target, err := c.root.Readlink(filepath.FromSlash(p))
		if err != nil {
			return "", err
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) || filepath.IsAbs(target) {
			return "", fmt.Errorf("%s %w", clean, ErrEscape)
		}
		todo = append(splitRel(target), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

func splitRel(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Stat returns the file or directory at rel, following symlinks inside
// the checkout. Errors are Resolve's when it explains them.
func (c *Checkout) Stat(rel string) (fs.FileInfo, error) {
	clean, err := CleanRel(rel)
	if err != nil {
		return nil, err
	}
	info, err := c.root.Stat(filepath.FromSlash(clean))
	if err != nil {
		return nil, c.explain(clean, err)
	}
	return info, nil
}

// explain returns why the os.Root refused or failed to find rel, as
// Resolve says it (leads outside, missing, loops), else err. The os.Root
// resolves paths itself, confined: Resolve only words its refusals.
func (c *Checkout) explain(rel string, err error) error {
	if _, rerr := c.Resolve(rel); rerr != nil {
		return rerr
	}
	return err
}

// FileTooLargeError refuses a file past a size limit before it is read.
type FileTooLargeError struct {
	Size, Limit int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("file has %d bytes, more than the %d allowed", e.Size, e.Limit)
}

// ReadFile reads the regular file at rel, following symlinks inside the
// checkout, refusing one larger than limit (*FileTooLargeError) without
// reading it. Errors are Resolve's when it explains them.
func (c *Checkout) ReadFile(rel string, limit int64) ([]byte, error) {
	clean, err := CleanRel(rel)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so that opening a FIFO does not wait for a writer; it
	// changes nothing for a regular file.
	f, err := c.root.OpenFile(filepath.FromSlash(clean), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, c.explain(clean, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", clean, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", clean)
	}
	if info.Size() > limit {
		return nil, &FileTooLargeError{Size: info.Size(), Limit: limit}
	}
	// The file may grow after Stat: never read past the limit.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", clean, err)
	}
	if int64(len(data)) > limit {
		return nil, &FileTooLargeError{Size: int64(len(data)), Limit: limit}
	}
	return data, nil
}

// readDir lists the real directory dir (resolved, no symlinks in it) in
// lexical order.
func (c *Checkout) readDir(dir string) ([]fs.DirEntry, error) {
	f, err := c.root.Open(filepath.FromSlash(dir))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	sortEntries(entries)
	return entries, nil
}

func sortEntries(entries []fs.DirEntry) {
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}
