package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

var statusTests = []test{
	{"put, replace and list", testStatusPutReplaceList},
	{"batch: later status of a cluster wins", testStatusBatch},
}

func testStatusBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting a batch", s.PutStatuses(ctx, []store.ClusterStatus{
		status("c1", `{"generation":1}`, t0),
		status("c2", `{"generation":7}`, t0),
		status("c1", `{"generation":2}`, t0.Add(time.Second)),
	}))
	must(t, "putting nothing", s.PutStatuses(ctx, nil))
	got, err := s.ListStatuses(ctx)
	must(t, "listing", err)
	slices.SortFunc(got, func(a, b store.ClusterStatus) int { return strings.Compare(a.ClusterID, b.ClusterID) })
	diff(t, "statuses after a batch", []store.ClusterStatus{
		status("c1", `{"generation":2}`, t0.Add(time.Second)), status("c2", `{"generation":7}`, t0),
	}, got)
}

func status(cluster, report string, at time.Time) store.ClusterStatus {
	return store.ClusterStatus{ClusterID: cluster, Report: []byte(report), ReceivedAt: at}
}

func testStatusPutReplaceList(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListStatuses(ctx)
	must(t, "listing an empty store", err)
	diff(t, "empty list", []store.ClusterStatus(nil), got)

	steps := []struct {
		name string
		put  store.ClusterStatus
		want []store.ClusterStatus
	}{
		{"first", status("c2", `{"generation":1}`, t0), []store.ClusterStatus{status("c2", `{"generation":1}`, t0)}},
		{"second cluster", status("c1", `{"generation":3}`, t0), []store.ClusterStatus{
			status("c1", `{"generation":3}`, t0), status("c2", `{"generation":1}`, t0),
		}},
		{"replace", status("c2", `{"generation":2,"ready":true}`, t0.Add(time.Minute)), []store.ClusterStatus{
			status("c1", `{"generation":3}`, t0), status("c2", `{"generation":2,"ready":true}`, t0.Add(time.Minute)),
		}},
	}
	for _, st := range steps {
		must(t, "putting: "+st.name, s.PutStatuses(ctx, []store.ClusterStatus{st.put}))
		got, err := s.ListStatuses(ctx)
		must(t, "listing", err)
		// The order of ListStatuses is not part of the contract.
		slices.SortFunc(got, func(a, b store.ClusterStatus) int { return strings.Compare(a.ClusterID, b.ClusterID) })
		diff(t, "statuses after "+st.name, st.want, got)
	}
}
