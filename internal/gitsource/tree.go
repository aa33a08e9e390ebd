package gitsource

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// rawEntry is one entry of a tree object exactly as stored: go-git's
// object.Tree would do, but it decodes a whole tree however large, and
// the checks below need the entries as written, duplicates and order
// included.
type rawEntry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

func (e rawEntry) isDir() bool { return e.mode == filemode.Dir }

// maxModeBytes is the longest mode git writes ("100644") with room for a
// zero-padded one ("040000").
const maxModeBytes = 7

// readTreeEntries reads the entries of the tree object h, refusing more than max
// of them before reading further: a hostile tree may hold millions.
func readTreeEntries(s storer.EncodedObjectStorer, h plumbing.Hash, max int) ([]rawEntry, error) {
	obj, err := s.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", h, err)
	}
	defer r.Close()
	entries, err := parseTree(bufio.NewReader(r), max)
	var te *TreeError
	if err != nil && !errors.As(err, &te) && !errors.Is(err, errTooManyEntries) {
		return nil, fmt.Errorf("reading tree %s: %w", h, err)
	}
	return entries, err
}

// errTooManyEntries is returned by parseTree past its max.
var errTooManyEntries = errors.New("too many entries")

// parseTree decodes tree entries ("<octal mode> <name>\x00<20-byte hash>"
// each) until EOF. Names are kept as they are, whatever they hold; a
// name longer than maxNameBytes is refused with a *TreeError whose Path
// is the name's start, relative to this tree; a malformed entry with a
// *TreeError whose Path is empty.
func parseTree(r *bufio.Reader, max int) ([]rawEntry, error) {
	var out []rawEntry
	for {
		mode, err := readUntil(r, ' ', maxModeBytes)
		if errors.Is(err, io.EOF) && len(mode) == 0 {
			return out, nil
		}
		if err != nil {
			return nil, malformed("entry %d: mode: %v", len(out), err)
		}
		if len(out) == max {
			return nil, errTooManyEntries
		}
		m, err := filemode.New(string(mode))
		if err != nil || len(mode) == 0 {
			return nil, malformed("entry %d: bad mode %q", len(out), mode)
		}
		name, err := readUntil(r, 0, maxNameBytes+1)
		if errors.Is(err, errFieldTooLong) {
			// Keep the start of the name, to say which entry it is.
			return nil, &TreeError{Path: string(name), Reason: fmt.Sprintf("name longer than %d bytes", maxNameBytes)}
		}
		if err != nil {
			return nil, malformed("entry %d: name: %v", len(out), err)
		}
		var h plumbing.Hash
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, malformed("entry %d: hash: %v", len(out), noEOF(err))
		}
		out = append(out, rawEntry{name: string(name), mode: m, hash: h})
	}
}

var errFieldTooLong = errors.New("field too long")

// malformed refuses a tree object git would not have written; the caller
// sets Path to the tree's.
func malformed(format string, args ...any) *TreeError {
	return &TreeError{Reason: "malformed tree object: " + fmt.Sprintf(format, args...)}
}

// readUntil reads up to delim, which it consumes and leaves out, refusing
// a field longer than max. At a clean end it returns what it read and
// io.EOF.
func readUntil(r *bufio.Reader, delim byte, max int) ([]byte, error) {
	var buf bytes.Buffer
	for {
		c, err := r.ReadByte()
		if err != nil {
			if buf.Len() > 0 {
				return buf.Bytes(), io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == delim {
			return buf.Bytes(), nil
		}
		if buf.Len() == max {
			return buf.Bytes(), errFieldTooLong
		}
		buf.WriteByte(c)
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
