package bundle

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Entry is one file or directory met by Walk.
type Entry struct {
	// Path is slash-separated and relative to the root, through symlinks:
	// a file reached by a link is named by the link's path. Read it with
	// Open, or with the Checkout's methods.
	Path string
	Dir  bool
	// Err is set for an entry that cannot be followed: a symlink that
	// leaves the root (wrapping ErrEscape), dangles or loops. Its message
	// does not repeat Path.
	Err error

	c *Checkout
	// in is the open directory holding a plain file, so that opening it
	// walks no path again; nil for one reached by a symlink.
	in *os.Root
	// sub is a directory, opened and listed when first needed.
	sub *walkDir
}

// Open opens the regular file e, as Checkout.Open does. While Walk's fn
// runs, a file that is no symlink is opened in its directory, already
// open, without walking its path from the root again.
func (e Entry) Open() (*File, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	if e.c == nil {
		return nil, fmt.Errorf("opening %s: not an entry of a walk", e.Path)
	}
	if e.in != nil {
		if f, err := openFile(e.in, path.Base(e.Path), e.Path); err == nil {
			return f, nil
		}
		// Closed since, or changed since it was listed: as by its path,
		// with its errors.
	}
	return e.c.Open(e.Path)
}

// FleetFile returns the name of the fleet file in the directory e, or ""
// if it holds none: fleet.yaml (preferred) or fleet.yml, anything but a
// directory, or a symlink of that name leading outside the checkout so
// that its bundle reports it. Walk lists the directory to answer, once
// for this call and for walking it.
func (e Entry) FleetFile() string {
	if !e.Dir || e.Err != nil || e.sub == nil {
		return ""
	}
	entries, err := e.sub.list()
	if err != nil {
		return fleetFileIn(e.c, e.Path)
	}
	for _, name := range []string{fleetYAML, fleetYML} {
		i, ok := slices.BinarySearchFunc(entries, name, func(d fs.DirEntry, n string) int { return strings.Compare(d.Name(), n) })
		if !ok {
			continue
		}
		switch typ := entries[i].Type(); {
		case typ&fs.ModeSymlink != 0:
			if isFleetFile(e.c, joinRel(e.Path, name)) {
				return name
			}
		case !typ.IsDir():
			return name
		}
	}
	return ""
}
