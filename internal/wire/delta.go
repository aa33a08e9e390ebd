package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

// A change to a fleet usually edits a few objects of a few bundles. An
// agent names the manifest content it holds (and so every object it
// names); the hub then sends the new content as a delta against it and
// ships the new objects with the manifest, each as a JSON merge patch onto
// the object it replaces where that is smaller. Nothing here weakens
// verification: the rebuilt content must hash to the signed digest, and a
// rebuilt object to the hash the manifest names.

// ContentDelta rebuilds manifest content from the content whose digest is
// Base. Bundles lists every bundle of the new content, in order.
type ContentDelta struct {
	Base    string        `json:"base"`
	Bundles []BundleDelta `json:"bundles"`
}

// BundleDelta is one bundle of the new content: the base's bundle of that
// Name, with its commit and some objects replaced; or Ref, given whole.
type BundleDelta struct {
	Name   string `json:"name,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Set replaces objects at positions of the base bundle's list.
	Set []ObjectAt `json:"set,omitempty"`
	Ref *BundleRef `json:"ref,omitempty"`
}

// ObjectAt is an object hash at a position of a bundle's object list.
type ObjectAt struct {
	Index int    `json:"i"`
	Hash  string `json:"h"`
}

// ShippedObject is an object sent along with a manifest: whole in Data, or
// as Patch, a JSON merge patch (RFC 7386) onto the object Base the agent
// holds.
type ShippedObject struct {
	Hash  string          `json:"hash"`
	Data  json.RawMessage `json:"data,omitempty"`
	Base  string          `json:"base,omitempty"`
	Patch json.RawMessage `json:"patch,omitempty"`
}

// MakeDelta describes content as a delta against base; both are manifest
// contents as ManifestContent encodes them.
func MakeDelta(base, content []byte) (*ContentDelta, error) {
	var from, to []BundleRef
	if err := json.Unmarshal(base, &from); err != nil {
		return nil, fmt.Errorf("decoding base content: %w", err)
	}
	if err := json.Unmarshal(content, &to); err != nil {
		return nil, fmt.Errorf("decoding content: %w", err)
	}
	byName := make(map[string]BundleRef, len(from))
	for _, b := range from {
		byName[b.Name] = b
	}
	d := &ContentDelta{Base: Hash(base), Bundles: make([]BundleDelta, 0, len(to))}
	for _, b := range to {
		old, ok := byName[b.Name]
		if !ok || !patchable(old, b) {
			d.Bundles = append(d.Bundles, BundleDelta{Ref: &b})
			continue
		}
		bd := BundleDelta{Name: b.Name}
		if b.Commit != old.Commit {
			bd.Commit = b.Commit
		}
		for i, h := range b.Objects {
			if old.Objects[i] != h {
				bd.Set = append(bd.Set, ObjectAt{Index: i, Hash: h})
			}
		}
		d.Bundles = append(d.Bundles, bd)
	}
	return d, nil
}

// patchable reports whether a bundle delta can rebuild b from old: the
// same bundle but for its commit and some objects. A delta can neither
// clear a commit ("" means unchanged) nor turn an empty object list into
// a null one, which encode differently: those go whole.
func patchable(old, b BundleRef) bool {
	return len(old.Objects) == len(b.Objects) && (old.Objects == nil) == (b.Objects == nil) &&
		(b.Commit != "" || old.Commit == "") && sameButCommitAndObjects(old, b)
}

func sameButCommitAndObjects(a, b BundleRef) bool {
	a.Commit, a.Objects, b.Commit, b.Objects = "", nil, "", nil
	ea, err1 := Canonical(a)
	eb, err2 := Canonical(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// Apply rebuilds the content from base, which must be the content Base
// names.
func (d *ContentDelta) Apply(base []byte) ([]byte, error) {
	if Hash(base) != d.Base {
		return nil, fmt.Errorf("applying manifest delta: base content is not %.12s", d.Base)
	}
	var from []BundleRef
	if err := json.Unmarshal(base, &from); err != nil {
		return nil, fmt.Errorf("applying manifest delta: decoding base content: %w", err)
	}
	byName := make(map[string]BundleRef, len(from))
	for _, b := range from {
		byName[b.Name] = b
	}
	out := make([]BundleRef, 0, len(d.Bundles))
	for _, bd := range d.Bundles {
		if bd.Ref != nil {
			out = append(out, *bd.Ref)
			continue
		}
		b, ok := byName[bd.Name]
		if !ok {
			return nil, fmt.Errorf("applying manifest delta: base has no bundle %q", bd.Name)
		}
		b.Objects = slices.Clone(b.Objects)
		if bd.Commit != "" {
			b.Commit = bd.Commit
		}
		for _, s := range bd.Set {
			if s.Index < 0 || s.Index >= len(b.Objects) {
				return nil, fmt.Errorf("applying manifest delta: bundle %q has no object %d", bd.Name, s.Index)
			}
			b.Objects[s.Index] = s.Hash
		}
		out = append(out, b)
	}
	return ManifestContent(out)
}

// ErrNoBase says a delta names content the agent does not hold.
var ErrNoBase = errors.New("manifest delta names content this agent does not hold")

// ResolveDelta returns sm with its content rebuilt from base when it came
// as a delta; sm as it is otherwise. VerifyManifest then checks the result.
func ResolveDelta(sm SignedManifest, base []byte) (SignedManifest, error) {
	if sm.Delta == nil {
		return sm, nil
	}
	if base == nil || Hash(base) != sm.Delta.Base {
		return SignedManifest{}, ErrNoBase
	}
	content, err := sm.Delta.Apply(base)
	if err != nil {
		return SignedManifest{}, err
	}
	sm.Content, sm.Delta = content, nil
	return sm, nil
}

// DiffObject returns the JSON merge patch from base to obj (canonical
// object encodings), when applying it gives back exactly obj: merge patches
// cannot express every change (a null value, for one).
func DiffObject(base, obj []byte) (json.RawMessage, bool) {
	patch, err := jsonpatch.CreateMergePatch(base, obj)
	if err != nil {
		return nil, false
	}
	got, err := PatchObject(base, patch)
	if err != nil || !bytes.Equal(got, obj) {
		return nil, false
	}
	return patch, true
}

// PatchObject applies a JSON merge patch to base and returns the result's
// canonical encoding.
func PatchObject(base []byte, patch json.RawMessage) ([]byte, error) {
	merged, err := jsonpatch.MergePatch(base, patch)
	if err != nil {
		return nil, fmt.Errorf("applying object patch: %w", err)
	}
	// Numbers keep their literals, as in the objects the hub encoded.
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("applying object patch: %w", err)
	}
	return Canonical(v)
}

// Resolve returns the object's canonical bytes, verified against its hash;
// held looks up objects the agent holds by hash.
func (o ShippedObject) Resolve(held func(hash string) ([]byte, bool)) ([]byte, error) {
	data := []byte(o.Data)
	if o.Patch != nil {
		base, ok := held(o.Base)
		if !ok {
			return nil, fmt.Errorf("object %.12s is a patch onto %.12s, which this agent does not hold", o.Hash, o.Base)
		}
		var err error
		if data, err = PatchObject(base, o.Patch); err != nil {
			return nil, fmt.Errorf("object %.12s: %w", o.Hash, err)
		}
	}
	if Hash(data) != o.Hash {
		return nil, fmt.Errorf("object %.12s does not match its hash", o.Hash)
	}
	return data, nil
}
