package storetest

import (
	"testing"

	"flotilla.io/flotilla/internal/store"
)

var groupTests = []test{
	{"put, list sorted, replace", testGroupPutList},
	{"delete", testGroupDelete},
}

func testGroupPutList(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting west", s.PutGroup(ctx, store.Group{Name: "west", Selector: "region=west", CreatedAt: t0}))
	must(t, "putting east", s.PutGroup(ctx, store.Group{Name: "east", Selector: "region=east", CreatedAt: t0}))
	must(t, "replacing west", s.PutGroup(ctx, store.Group{Name: "west", Selector: "region in (west,north)", Labels: map[string]string{"tier": "edge"}, CreatedAt: t0}))
	got, err := s.ListGroups(ctx)
	must(t, "listing groups", err)
	diff(t, "groups", []store.Group{
		{Name: "east", Selector: "region=east", CreatedAt: t0},
		{Name: "west", Selector: "region in (west,north)", Labels: map[string]string{"tier": "edge"}, CreatedAt: t0},
	}, got)
}

func testGroupDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting", s.PutGroup(ctx, store.Group{Name: "g", Selector: "a=b", CreatedAt: t0}))
	must(t, "deleting", s.DeleteGroup(ctx, "g"))
	wantErr(t, "deleting again", s.DeleteGroup(ctx, "g"), store.ErrNotFound)
	got, err := s.ListGroups(ctx)
	must(t, "listing", err)
	diff(t, "groups after delete", []store.Group(nil), got)
}

func testClusterFacts(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "creating", s.CreateCluster(ctx, cluster("c1", "alpha")))
	facts := []byte(`{"arch":"arm64","nodes":1}`)
	must(t, "setting facts", s.SetClusterFacts(ctx, "c1", facts))
	got, err := s.GetCluster(ctx, "c1")
	must(t, "getting", err)
	diff(t, "facts", string(facts), string(got.Facts))
	wantErr(t, "facts of a missing cluster", s.SetClusterFacts(ctx, "nope", facts), store.ErrNotFound)
}
