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

// explain returns why the os.Root refused rel, as Resolve says it (leads
// outside, loops), else err. The os.Root resolves paths itself, confined:
// Resolve only words its refusals. A missing file is not explained: the
// os.Root meets it where Resolve would, before any escape beyond it, and
// probing for optional files (fleet.yml, kustomization.yml) is common.
func (c *Checkout) explain(rel string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, rerr := c.Resolve(rel); rerr != nil {
		return rerr
	}
	return err
}
