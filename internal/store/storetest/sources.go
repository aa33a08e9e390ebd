package storetest

import (
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

var sourceTests = []test{
	{"put and get", testSourcePutGet},
	{"get missing", testSourceGetMissing},
	{"put keeps fetch state", testSourceUpsertKeepsFetch},
	{"list sorted by name", testSourceList},
	{"set fetch", testSourceSetFetch},
	{"delete", testSourceDelete},
}

func source(name string) store.Source {
	return store.Source{
		Name:         name,
		Repo:         "https://git.example.com/fleet/" + name + ".git",
		Branch:       "main",
		Paths:        []string{"apps", "infra/base"},
		Poll:         90 * time.Second,
		Targets:      []string{"site in (north,south)", "tier=edge"},
		TargetGroups: []string{"west"},
	}
}

func testSourcePutGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	fetched := source("fetched")
	fetched.SourceFetch = store.SourceFetch{Commit: "abc123", FetchedAt: t0}
	for _, src := range []store.Source{source("full"), {Name: "bare", Repo: "r"}, fetched} {
		must(t, "putting "+src.Name, s.PutSource(ctx, src))
		got, err := s.GetSource(ctx, src.Name)
		must(t, "getting "+src.Name, err)
		diff(t, "source "+src.Name, src, got)
	}
}

func testSourceGetMissing(t *testing.T, s store.Store) {
	_, err := s.GetSource(t.Context(), "nope")
	wantErr(t, "getting a missing source", err, store.ErrNotFound)
}

func testSourceUpsertKeepsFetch(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting", s.PutSource(ctx, source("s1")))
	fetch := store.SourceFetch{Commit: "abc123", Error: "", FetchedAt: t0}
	must(t, "setting fetch", s.SetSourceFetch(ctx, "s1", fetch))

	changed := source("s1")
	changed.Branch = "release"
	changed.Paths = []string{"only"}
	changed.Poll = time.Minute
	changed.Targets = nil
	changed.SourceFetch = store.SourceFetch{Commit: "ignored", Error: "ignored", FetchedAt: t0.Add(time.Hour)}
	must(t, "putting again", s.PutSource(ctx, changed))

	want := changed
	want.SourceFetch = fetch
	got, err := s.GetSource(ctx, "s1")
	must(t, "getting", err)
	diff(t, "source", want, got)
}

func testSourceList(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListSources(ctx)
	must(t, "listing an empty store", err)
	diff(t, "empty list", []store.Source(nil), got)
	for _, n := range []string{"b", "c", "a"} {
		must(t, "putting "+n, s.PutSource(ctx, source(n)))
	}
	got, err = s.ListSources(ctx)
	must(t, "listing", err)
	diff(t, "sources", []store.Source{source("a"), source("b"), source("c")}, got)
}

func testSourceSetFetch(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting", s.PutSource(ctx, source("s1")))
	tests := []struct {
		name    string
		source  string
		fetch   store.SourceFetch
		wantErr error
	}{
		{"success", "s1", store.SourceFetch{Commit: "abc", FetchedAt: t0}, nil},
		{"failure keeps its message", "s1", store.SourceFetch{Commit: "abc", Error: "dial tcp: timeout", FetchedAt: t0.Add(time.Minute)}, nil},
		{"cleared", "s1", store.SourceFetch{}, nil},
		{"missing source", "nope", store.SourceFetch{Commit: "abc"}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "setting fetch", s.SetSourceFetch(ctx, tc.source, tc.fetch), tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			got, err := s.GetSource(ctx, tc.source)
			must(t, "getting", err)
			want := source(tc.source)
			want.SourceFetch = tc.fetch
			diff(t, "source", want, got)
		})
	}
}

func testSourceDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"s1", "s2"} {
		must(t, "putting "+n, s.PutSource(ctx, source(n)))
	}
	must(t, "replacing bundles of s1", s.ReplaceBundles(ctx, "s1", []store.Bundle{bundle("s1", "a"), bundle("s1", "b")}))
	must(t, "replacing bundles of s2", s.ReplaceBundles(ctx, "s2", []store.Bundle{bundle("s2", "c")}))

	must(t, "deleting", s.DeleteSource(ctx, "s1"))
	_, err := s.GetSource(ctx, "s1")
	wantErr(t, "getting the deleted source", err, store.ErrNotFound)
	wantErr(t, "deleting again", s.DeleteSource(ctx, "s1"), store.ErrNotFound)

	srcs, err := s.ListSources(ctx)
	must(t, "listing sources", err)
	diff(t, "sources", []store.Source{source("s2")}, srcs)
	bundles, err := s.ListBundles(ctx)
	must(t, "listing bundles", err)
	diff(t, "bundles", []store.Bundle{bundle("s2", "c")}, bundles)
}
