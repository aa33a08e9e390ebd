package storetest

import (
	"testing"

	"flotilla.io/flotilla/internal/store"
)

var bundleTests = []test{
	{"replace", testBundleReplace},
	{"replace leaves other sources alone", testBundleReplaceOtherSources},
	{"replace for a missing source", testBundleReplaceMissingSource},
	{"name taken by another source", testBundleNameTaken},
}

func bundle(src, name string) store.Bundle {
	return store.Bundle{
		Name:     name,
		Source:   src,
		Path:     "apps/" + name,
		Commit:   "c0ffee",
		Objects:  []string{"sha256:" + name + "-2", "sha256:" + name + "-1"},
		Warnings: []string{"helm: deprecated value"},
	}
}

func testBundleReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting source", s.PutSource(ctx, source("s1")))
	broken := bundle("s1", "broken")
	broken.Objects = nil
	broken.Error = "parsing fleet.yaml: line 3"
	changed := bundle("s1", "b")
	changed.Commit = "beef"

	steps := []struct {
		name    string
		bundles []store.Bundle
		want    []store.Bundle
	}{
		{"first", []store.Bundle{bundle("s1", "b"), bundle("s1", "a")}, []store.Bundle{bundle("s1", "a"), bundle("s1", "b")}},
		{"change, add and remove", []store.Bundle{changed, broken}, []store.Bundle{changed, broken}},
		{"empty", nil, nil},
	}
	for _, st := range steps {
		must(t, "replacing: "+st.name, s.ReplaceBundles(ctx, "s1", st.bundles))
		got, err := s.ListBundles(ctx)
		must(t, "listing", err)
		diff(t, "bundles after "+st.name, st.want, got)
	}
}

func testBundleReplaceOtherSources(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"s1", "s2"} {
		must(t, "putting "+n, s.PutSource(ctx, source(n)))
	}
	must(t, "replacing s1", s.ReplaceBundles(ctx, "s1", []store.Bundle{bundle("s1", "a"), bundle("s1", "c")}))
	must(t, "replacing s2", s.ReplaceBundles(ctx, "s2", []store.Bundle{bundle("s2", "b")}))
	must(t, "replacing s1 again", s.ReplaceBundles(ctx, "s1", []store.Bundle{bundle("s1", "d")}))
	got, err := s.ListBundles(ctx)
	must(t, "listing", err)
	diff(t, "bundles", []store.Bundle{bundle("s2", "b"), bundle("s1", "d")}, got)
}

func testBundleReplaceMissingSource(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.ReplaceBundles(ctx, "nope", []store.Bundle{bundle("nope", "a")})
	wantErr(t, "replacing", err, store.ErrNotFound)
	got, err := s.ListBundles(ctx)
	must(t, "listing", err)
	diff(t, "bundles", []store.Bundle(nil), got)
}

func testBundleNameTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"s1", "s2"} {
		must(t, "putting "+n, s.PutSource(ctx, source(n)))
	}
	must(t, "replacing s1", s.ReplaceBundles(ctx, "s1", []store.Bundle{bundle("s1", "a")}))
	must(t, "replacing s2", s.ReplaceBundles(ctx, "s2", []store.Bundle{bundle("s2", "b")}))
	tests := []struct {
		name    string
		source  string
		bundles []store.Bundle
	}{
		{"held by another source", "s2", []store.Bundle{bundle("s2", "c"), bundle("s2", "a")}},
		{"repeated in the list", "s2", []store.Bundle{bundle("s2", "d"), bundle("s2", "d")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "replacing", s.ReplaceBundles(ctx, tc.source, tc.bundles), store.ErrExists)
			got, err := s.ListBundles(ctx)
			must(t, "listing", err)
			diff(t, "bundles unchanged", []store.Bundle{bundle("s1", "a"), bundle("s2", "b")}, got)
		})
	}
}
