package storetest

import (
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

var clusterTests = []test{
	{"create and get", testClusterCreateGet},
	{"get missing", testClusterGetMissing},
	{"list sorted by name", testClusterList},
	{"duplicates", testClusterDuplicates},
	{"touch", testClusterTouch},
	{"facts", testClusterFacts},
}

func cluster(id, name string) store.Cluster {
	return store.Cluster{
		ID:         id,
		Name:       name,
		Labels:     map[string]string{"site": "wind-" + name, "tier": "edge"},
		CertSerial: "serial-" + id,
		CreatedAt:  t0,
	}
}

func testClusterCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, c := range []store.Cluster{
		cluster("c1", "alpha"),
		{ID: "c2", Name: "bare"},
		func() store.Cluster { c := cluster("c3", "seen"); c.LastSeen = t0.Add(time.Hour); return c }(),
	} {
		must(t, "creating "+c.ID, s.CreateCluster(ctx, c))
		got, err := s.GetCluster(ctx, c.ID)
		must(t, "getting "+c.ID, err)
		diff(t, "cluster "+c.ID, c, got)
	}
}

func testClusterGetMissing(t *testing.T, s store.Store) {
	_, err := s.GetCluster(t.Context(), "nope")
	wantErr(t, "getting a missing cluster", err, store.ErrNotFound)
}

func testClusterList(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListClusters(ctx)
	must(t, "listing an empty store", err)
	diff(t, "empty list", []store.Cluster(nil), got)

	want := []store.Cluster{cluster("z", "a"), cluster("a", "b"), cluster("m", "c")}
	for _, i := range []int{2, 0, 1} {
		must(t, "creating", s.CreateCluster(ctx, want[i]))
	}
	got, err = s.ListClusters(ctx)
	must(t, "listing", err)
	diff(t, "clusters", want, got)
}

func testClusterDuplicates(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "creating", s.CreateCluster(ctx, cluster("c1", "alpha")))
	tests := []struct {
		name string
		c    store.Cluster
		want error
	}{
		{"same id", cluster("c1", "beta"), store.ErrExists},
		{"same name", cluster("c2", "alpha"), store.ErrExists},
		{"both new", cluster("c3", "gamma"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "creating", s.CreateCluster(ctx, tc.c), tc.want)
		})
	}
	got, err := s.GetCluster(ctx, "c1")
	must(t, "getting", err)
	diff(t, "original cluster", cluster("c1", "alpha"), got)
}

func testClusterTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "creating", s.CreateCluster(ctx, cluster("c1", "alpha")))
	tests := []struct {
		name     string
		id       string
		at       time.Time
		wantErr  error
		wantSeen time.Time
	}{
		{"first", "c1", t0.Add(time.Minute), nil, t0.Add(time.Minute)},
		{"later", "c1", t0.Add(2 * time.Minute), nil, t0.Add(2 * time.Minute)},
		{"earlier keeps the latest", "c1", t0.Add(time.Second), nil, t0.Add(2 * time.Minute)},
		{"missing cluster is skipped", "nope", t0, nil, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.TouchClusters(ctx, map[string]time.Time{tc.id: tc.at})
			wantErr(t, "touching", err, tc.wantErr)
			if tc.wantErr != nil || tc.wantSeen.IsZero() {
				return
			}
			got, err := s.GetCluster(ctx, tc.id)
			must(t, "getting", err)
			diff(t, "last seen", tc.wantSeen, got.LastSeen)
		})
	}
	// Many at once, one of them gone.
	must(t, "touching a batch", s.TouchClusters(ctx, map[string]time.Time{"c1": t0.Add(time.Hour), "gone": t0}))
	got, err := s.GetCluster(ctx, "c1")
	must(t, "getting", err)
	diff(t, "last seen after a batch", t0.Add(time.Hour), got.LastSeen)
}
