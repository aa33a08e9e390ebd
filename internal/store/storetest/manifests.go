package storetest

import (
	"fmt"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

var manifestTests = []test{
	{"put and get", testManifestPutGet},
	{"get missing", testManifestGetMissing},
	{"generation must grow", testManifestMonotonic},
	{"batch is all or nothing", testManifestBatch},
}

func testManifestBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	heads, err := s.ListManifestHeads(ctx)
	must(t, "listing heads of an empty store", err)
	diff(t, "heads of an empty store", map[string]store.ManifestHead{}, heads)
	withAgent := manifest("c2", 3)
	withAgent.Agent = "agent-digest"
	must(t, "putting a batch", s.PutManifests(ctx, []store.Manifest{manifest("c1", 2), withAgent}))
	must(t, "putting nothing", s.PutManifests(ctx, nil))
	// c3 would be new, but c1 does not grow: neither is stored.
	wantErr(t, "putting a batch with a stale generation", s.PutManifests(ctx, []store.Manifest{manifest("c3", 1), manifest("c1", 2)}), store.ErrConflict)
	heads, err = s.ListManifestHeads(ctx)
	must(t, "listing heads", err)
	diff(t, "heads", map[string]store.ManifestHead{
		"c1": {Generation: 2, Digest: "sha256:digest-c1"},
		"c2": {Generation: 3, Digest: "sha256:digest-c2", Agent: "agent-digest"},
	}, heads)
}

func manifest(cluster string, gen int64) store.Manifest {
	return store.Manifest{
		ClusterID:  cluster,
		Generation: gen,
		Signed:     fmt.Appendf(nil, `{"manifest":{"generation":%d},"signature":"AAEC"}`, gen),
		Digest:     "sha256:digest-" + cluster,
		CreatedAt:  t0.Add(time.Duration(gen) * time.Second),
	}
}

func testManifestPutGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	c2 := manifest("c2", 7)
	c2.Agent = "agent-digest"
	for _, m := range []store.Manifest{manifest("c1", 1), c2} {
		must(t, "putting", s.PutManifest(ctx, m))
	}
	for _, m := range []store.Manifest{manifest("c1", 1), c2} {
		got, err := s.GetManifest(ctx, m.ClusterID)
		must(t, "getting", err)
		diff(t, "manifest "+m.ClusterID, m, got)
	}
}

func testManifestGetMissing(t *testing.T, s store.Store) {
	_, err := s.GetManifest(t.Context(), "nope")
	wantErr(t, "getting a missing manifest", err, store.ErrNotFound)
}

func testManifestMonotonic(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting", s.PutManifest(ctx, manifest("c1", 5)))
	must(t, "putting another cluster", s.PutManifest(ctx, manifest("c2", 1)))
	equal := manifest("c1", 5)
	equal.Digest = "sha256:other"
	tests := []struct {
		name    string
		m       store.Manifest
		wantErr error
		want    store.Manifest
	}{
		{"equal generation", equal, store.ErrConflict, manifest("c1", 5)},
		{"lower generation", manifest("c1", 4), store.ErrConflict, manifest("c1", 5)},
		{"greater generation", manifest("c1", 6), nil, manifest("c1", 6)},
		{"skipping generations", manifest("c1", 100), nil, manifest("c1", 100)},
		{"back below after a skip", manifest("c1", 7), store.ErrConflict, manifest("c1", 100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "putting", s.PutManifest(ctx, tc.m), tc.wantErr)
			got, err := s.GetManifest(ctx, tc.m.ClusterID)
			must(t, "getting", err)
			diff(t, "stored manifest", tc.want, got)
		})
	}
	got, err := s.GetManifest(ctx, "c2")
	must(t, "getting the other cluster", err)
	diff(t, "other cluster's manifest", manifest("c2", 1), got)
}
