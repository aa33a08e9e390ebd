package gitsource

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// A tree spec describes raw git trees in text, so that tests can make the
// trees git itself would never write: duplicate or unsorted entries, bad
// names, hostile symlinks. Entries are stored in the order written,
// exactly as written, with no check of any kind.
//
//	# a comment
//	limit files 3           optional: files, bytes, depth or target
//	tree root               the first tree is the commit's
//	120000 "e" "."          mode, quoted name, quoted content or target
//	40000 "e" sub           a directory: the name of another tree
//	160000 "m" 0123...      a submodule: a commit hash
//	tree sub
//	100644 "pwned" "x"
type treeSpec struct {
	limits limits
	trees  []specTree
}

type specTree struct {
	name    string
	entries []specEntry
}

type specEntry struct {
	mode, name, value string
}

// testLimits are the limits of a spec that sets none: small, so that the
// fuzzer cannot make a checkout slow.
var testLimits = limits{files: 200, bytes: 1 << 16, depth: 16, symlinkSize: DefaultMaxSymlinkTarget}

func parseSpec(text string) (*treeSpec, error) {
	s := &treeSpec{limits: testLimits}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields, err := specFields(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		switch {
		case fields[0] == "limit" && len(fields) == 3:
			v, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("line %d: bad limit %q", n+1, fields[2])
			}
			// Never above testLimits: a fuzzed spec must stay quick.
			switch fields[1] {
			case "files":
				s.limits.files = int(min(v, int64(testLimits.files)))
			case "bytes":
				s.limits.bytes = min(v, testLimits.bytes)
			case "depth":
				s.limits.depth = int(min(v, int64(testLimits.depth)))
			case "target":
				s.limits.symlinkSize = min(v, testLimits.symlinkSize)
			default:
				return nil, fmt.Errorf("line %d: unknown limit %q", n+1, fields[1])
			}
		case fields[0] == "tree" && len(fields) == 2:
			s.trees = append(s.trees, specTree{name: fields[1]})
		case len(fields) == 3 && len(s.trees) > 0:
			t := &s.trees[len(s.trees)-1]
			t.entries = append(t.entries, specEntry{mode: fields[0], name: fields[1], value: fields[2]})
		default:
			return nil, fmt.Errorf("line %d: cannot parse %q", n+1, line)
		}
	}
	if len(s.trees) == 0 {
		return nil, fmt.Errorf("no tree")
	}
	return s, nil
}

// specFields splits a line into words and Go-quoted strings.
func specFields(line string) ([]string, error) {
	var out []string
	for line = strings.TrimLeft(line, " \t"); line != ""; line = strings.TrimLeft(line, " \t") {
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, err
			}
			v, err := strconv.Unquote(q)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			line = line[len(q):]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		out = append(out, line[:end])
		line = line[end:]
	}
	return out, nil
}

// build stores the spec's objects in a new in-memory repository and
// returns it with a commit of the first tree.
func (s *treeSpec) build() (*git.Repository, plumbing.Hash, error) {
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	byName := map[string]*specTree{}
	for i := range s.trees {
		byName[s.trees[i].name] = &s.trees[i]
	}
	b := specBuilder{repo: repo, trees: byName, done: map[string]plumbing.Hash{}, busy: map[string]bool{}}
	root, err := b.tree(s.trees[0].name)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	sig := object.Signature{Name: "t", Email: "t@flotilla.invalid", When: time.Unix(1700000000, 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "hostile\n", TreeHash: root}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return nil, plumbing.ZeroHash, err
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	return repo, h, err
}

type specBuilder struct {
	repo  *git.Repository
	trees map[string]*specTree
	done  map[string]plumbing.Hash
	busy  map[string]bool
}

func (b *specBuilder) tree(name string) (plumbing.Hash, error) {
	if h, ok := b.done[name]; ok {
		return h, nil
	}
	t, ok := b.trees[name]
	if !ok || b.busy[name] {
		return plumbing.ZeroHash, fmt.Errorf("tree %q undefined or cyclic", name)
	}
	b.busy[name] = true
	var raw bytes.Buffer
	for _, e := range t.entries {
		var h plumbing.Hash
		var err error
		switch strings.TrimLeft(e.mode, "0") {
		case "40000":
			h, err = b.tree(e.value)
		case "160000":
			var sum []byte
			if sum, err = hex.DecodeString(e.value); err == nil && len(sum) != len(h) {
				err = fmt.Errorf("submodule hash %q", e.value)
			}
			copy(h[:], sum)
		default:
			h, err = b.blob(e.value)
		}
		if err != nil {
			return plumbing.ZeroHash, err
		}
		fmt.Fprintf(&raw, "%s %s\x00", e.mode, e.name)
		raw.Write(h[:])
	}
	h, err := b.store(plumbing.TreeObject, raw.Bytes())
	b.done[name] = h
	return h, err
}

func (b *specBuilder) blob(content string) (plumbing.Hash, error) {
	return b.store(plumbing.BlobObject, []byte(content))
}

func (b *specBuilder) store(t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	obj := b.repo.Storer.NewEncodedObject()
	obj.SetType(t)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return b.repo.Storer.SetEncodedObject(obj)
}
