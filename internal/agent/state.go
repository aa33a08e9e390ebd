package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// store is the agent's state directory: the last verified manifest and the
// objects it names, written atomically, verified again when loaded.
type store struct {
	dir string
}

func (s store) objectPath(hash string) string {
	return filepath.Join(s.dir, objectsDir, hash+".json")
}

// missing returns the hashes m names that are not on disk.
func (s store) missing(m wire.Manifest) []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range m.Bundles {
		for _, h := range b.Objects {
			if seen[h] {
				continue
			}
			seen[h] = true
			if _, err := os.Stat(s.objectPath(h)); err != nil {
				out = append(out, h)
			}
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

// putManifest records a verified manifest whose objects are all on disk.
func (s store) putManifest(sm wire.SignedManifest) error {
	data, err := json.Marshal(sm)
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	return atomicfile.Write(filepath.Join(s.dir, manifestFile), data, 0o600)
}

// load reads and verifies the kept manifest and its objects. It returns
// nil with no error when there is none yet.
func (s store) load(id *identity) (*desired, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading kept manifest: %w", err)
	}
	var sm wire.SignedManifest
	if err := json.Unmarshal(data, &sm); err != nil {
		return nil, fmt.Errorf("decoding kept manifest: %w", err)
	}
	m, err := wire.VerifyManifest(id.pub, sm, id.ClusterID, 0)
	if err != nil {
		return nil, fmt.Errorf("verifying kept manifest: %w", err)
	}
	return s.complete(sm, m)
}

// complete reads and checks every object m names.
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
				return nil, fmt.Errorf("kept object %.12s is corrupt", h)
			}
			d.objects[h] = data
		}
	}
	return d, nil
}

// gc removes objects no manifest names any more.
func (s store) gc(keep *desired) error {
	entries, err := os.ReadDir(filepath.Join(s.dir, objectsDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("listing objects: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		hash := name[:len(name)-len(filepath.Ext(name))]
		if _, ok := keep.objects[hash]; !ok {
			if err := os.Remove(filepath.Join(s.dir, objectsDir, name)); err != nil {
				return fmt.Errorf("removing unused object: %w", err)
			}
		}
	}
	return nil
}
