package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/wire"
)

// desired is a verified manifest with every object it names, decoded.
type desired struct {
	signed   wire.SignedManifest
	manifest wire.Manifest
	// objects holds the canonical bytes of each object by hash.
	objects map[string][]byte
}

// store is the agent's state directory: the last verified manifest, the
// one before it, and the objects both name, written atomically, verified
// again when loaded.
type store struct {
	dir string
}

func (s store) objectPath(hash string) string {
	return filepath.Join(s.dir, objectsDir, hash+".json")
}

// missing returns the hashes m names that are not on disk intact. Kept
// objects that no longer match their hash are removed, so that they are
// fetched again.
func (s store) missing(m wire.Manifest) []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range m.Bundles {
		for _, h := range b.Objects {
			if seen[h] {
				continue
			}
			seen[h] = true
			data, err := os.ReadFile(s.objectPath(h))
			if err == nil && wire.Hash(data) == h {
				continue
			}
			if err == nil {
				_ = os.Remove(s.objectPath(h))
			}
			out = append(out, h)
		}
	}
	return out
}

// putObjects verifies each object against its hash and writes it.
func (s store) putObjects(objs map[string][]byte, want []string) error {
	if err := os.MkdirAll(filepath.Join(s.dir, objectsDir), 0o700); err != nil {
		return fmt.Errorf("creating objects directory: %w", err)
	}
	for _, h := range want {
		data, ok := objs[h]
		if !ok {
			return fmt.Errorf("hub did not send object %.12s", h)
		}
		if wire.Hash(data) != h {
			return fmt.Errorf("object %.12s does not match its hash: refusing it", h)
		}
		if err := atomicfile.Write(s.objectPath(h), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// putManifest records a verified manifest whose objects are all on disk,
// as encodeManifest encoded it. The manifest it replaces becomes the
// previous good copy first: a crash between the two steps leaves that
// copy, which load falls back to.
func (s store) putManifest(data []byte) error {
	cur, prev := filepath.Join(s.dir, manifestFile), filepath.Join(s.dir, prevManifestFile)
	if _, err := os.Stat(cur); err == nil {
		if err := os.Rename(cur, prev); err != nil {
			return fmt.Errorf("keeping previous manifest: %w", err)
		}
	}
	return atomicfile.Write(cur, data, 0o600)
}

// encodeManifest is the kept form of a verified manifest. encoding/json
// compacts embedded content and escapes HTML in it, so content signed in
// any other form would no longer match its digest once kept, and the next
// start would refuse it: such a manifest is refused before it is kept.
func encodeManifest(sm wire.SignedManifest) ([]byte, error) {
	data, err := json.Marshal(sm)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	var back wire.SignedManifest
	if err := json.Unmarshal(data, &back); err != nil || !bytes.Equal(back.Content, sm.Content) {
		return nil, errors.New("manifest content is not compact JSON as the hub encodes it: it would not verify once kept")
	}
	return data, nil
}

// loaded is what load found: the state to enforce and, when the current
// copy was unusable, why (reported as the agent's error).
type loaded struct {
	desired *desired
	problem error
}

// load reads and verifies the kept manifest and its objects, falling back
// to the previous good copy when the current one is missing, truncated,
// corrupt or wrongly signed. It returns a nil desired when neither is
// usable (or none exists yet); problem then says why, if anything was
// refused. Objects found corrupt are removed so the hub sends them again.
func (s store) load(id *identity) loaded {
	var problems []string
	for _, name := range []string{manifestFile, prevManifestFile} {
		d, err := s.loadFile(id, name)
		if err == nil && d == nil {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		out := loaded{desired: d}
		if len(problems) > 0 && name == prevManifestFile {
			// Put the good copy back in place, so the next start is clean.
			if err := s.restore(d.signed); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) > 0 {
			out.problem = fmt.Errorf("kept state refused, using previous good copy (generation %d): %s",
				d.manifest.Generation, strings.Join(problems, "; "))
		}
		return out
	}
	if len(problems) > 0 {
		return loaded{problem: fmt.Errorf("kept state refused, waiting for the hub: %s", strings.Join(problems, "; "))}
	}
	return loaded{}
}

// loadFile loads one manifest file; nil, nil when it does not exist.
func (s store) loadFile(id *identity, name string) (*desired, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var sm wire.SignedManifest
	if err := json.Unmarshal(data, &sm); err != nil {
		return nil, fmt.Errorf("%s is corrupt or truncated: %w", name, err)
	}
	if sm.Objects != nil {
		// The agent keeps the manifest alone; this file is not its own.
		return nil, fmt.Errorf("%s holds shipped objects, which a kept manifest never does", name)
	}
	m, err := wire.VerifyManifest(id.pub, sm, id.ClusterID, 0)
	if err != nil {
		return nil, fmt.Errorf("%s fails verification: %w", name, err)
	}
	d, err := s.complete(sm, m)
	if err != nil {
		return nil, fmt.Errorf("%s (generation %d): %w", name, m.Generation, err)
	}
	return d, nil
}

// complete reads and checks every object m names. A corrupt object is
// removed, so that the next manifest from the hub fetches it again.
func (s store) complete(sm wire.SignedManifest, m wire.Manifest) (*desired, error) {
	d := &desired{signed: sm, manifest: m, objects: map[string][]byte{}}
	for _, b := range m.Bundles {
		for _, h := range b.Objects {
			if _, ok := d.objects[h]; ok {
				continue
			}
			data, err := os.ReadFile(s.objectPath(h))
			if err != nil {
				return nil, fmt.Errorf("reading object %.12s: %w", h, err)
			}
			if wire.Hash(data) != h {
				_ = os.Remove(s.objectPath(h))
				return nil, fmt.Errorf("kept object %.12s is corrupt", h)
			}
			d.objects[h] = data
		}
	}
	return d, nil
}

// gc removes objects that neither the current manifest nor the previous
// one names.
func (s store) gc(keep *desired) error {
	names := map[string]bool{}
	for h := range keep.objects {
		names[h] = true
	}
	if data, err := os.ReadFile(filepath.Join(s.dir, prevManifestFile)); err == nil {
		var sm wire.SignedManifest
		// Unverified is fine here: it only decides what not to delete.
		if json.Unmarshal(data, &sm) == nil {
			m, _ := wire.DecodeManifest(sm)
			for _, b := range m.Bundles {
				for _, h := range b.Objects {
					names[h] = true
				}
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, objectsDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("listing objects: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		hash := strings.TrimSuffix(name, filepath.Ext(name))
		if !names[hash] {
			if err := os.Remove(filepath.Join(s.dir, objectsDir, name)); err != nil {
				return fmt.Errorf("removing unused object: %w", err)
			}
		}
	}
	return nil
}

// restore writes the good copy back as the current manifest.
func (s store) restore(sm wire.SignedManifest) error {
	data, err := encodeManifest(sm)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.dir, manifestFile), data, 0o600)
}
