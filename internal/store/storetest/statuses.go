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
		must(t, "putting: "+st.name, s.PutStatus(ctx, st.put))
		got, err := s.ListStatuses(ctx)
		must(t, "listing", err)
		// The order of ListStatuses is not part of the contract.
		slices.SortFunc(got, func(a, b store.ClusterStatus) int { return strings.Compare(a.ClusterID, b.ClusterID) })
		diff(t, "statuses after "+st.name, st.want, got)
	}
}
