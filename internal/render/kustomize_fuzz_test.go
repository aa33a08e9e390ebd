package render

import (
	"os"
	"path"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"flotilla.io/flotilla/internal/bundle"
)

// FuzzKustomizeReferences reads the paths a fuzzed kustomization names,
// from a fuzzed directory, as renderKustomize checks them before
// Kustomize runs (seeded with the kustomizations under testdata).
// Invariant: a reference accepted is a local path of the checkout, never
// a remote one; checking the whole graph ends with an answer.
func FuzzKustomizeReferences(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*", "repo", "*", "kustomization.y*ml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("app", data)
	}
	f.Add("a/b", []byte("resources: [../../x, ../../../y, /etc, 'git@github.com:x/y', '..', '.']\n"))
	f.Add(".", []byte("bases: [..]\ncomponents: [c/../../..]\nconfigMapGenerator: [{name: x, files: [k=../../s]}]\n"))
	f.Fuzz(func(t *testing.T, dir string, kustomization []byte) {
		kdir, err := bundle.CleanRel(dir)
		if err != nil {
			return
		}
		fsys := filesys.MakeFsInMemory()
		kfile := joinRel(kdir, "kustomization.yaml")
		if err := fsys.MkdirAll(inMemory(kdir)); err != nil {
			return
		}
		if err := fsys.WriteFile(inMemory(kfile), kustomization); err != nil {
			return
		}
		refs, err := readReferences(fsys, kfile)
		if err != nil {
			return
		}
		for _, r := range refs {
			target, err := checkReference(kdir, r)
			if err != nil {
				continue
			}
			if isRemote(r.value) {
				t.Fatalf("remote reference %q accepted", r.value)
			}
			if target != "." && (!filepath.IsLocal(target) || target != path.Clean(target)) {
				t.Fatalf("reference %q from %q accepted as %q, not a local path", r.value, kdir, target)
			}
		}
		_ = checkReferences(fsys, kdir, nil, false)
	})
}
