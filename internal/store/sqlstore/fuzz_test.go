package sqlstore

import (
	"bytes"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

// FuzzObjects stores arbitrary hashes and bytes, as a render or an agent
// might send them, and reads them back unchanged.
func FuzzObjects(f *testing.F) {
	f.Add("sha256:abc", []byte(`{"kind":"ConfigMap"}`), "other")
	f.Add("", []byte{}, "")
	f.Add("h'); DROP TABLE objects;--", []byte{0, 0xff, '?'}, "?")
	f.Add("\x00\xff", []byte("\x00"), "%")
	db := openTemp(f)
	// first is what each hash was first stored with in this process's
	// database: later puts of the same hash must not change it. Inputs run
	// one at a time within a process.
	first := map[string][]byte{}
	f.Fuzz(func(t *testing.T, hash string, data []byte, other string) {
		ctx := t.Context()
		if err := db.PutObjects(ctx, map[string][]byte{hash: data}); err != nil {
			t.Fatalf("putting %q: %v", hash, err)
		}
		if _, ok := first[hash]; !ok {
			first[hash] = bytes.Clone(data)
		}
		got, err := db.GetObjects(ctx, []string{hash, other})
		if err != nil {
			t.Fatalf("getting %q: %v", hash, err)
		}
		for _, h := range []string{hash, other} {
			want, stored := first[h]
			v, ok := got[h]
			if ok != stored || !bytes.Equal(v, want) {
				t.Fatalf("object %q: got %q (present %v), want %q (present %v)", h, v, ok, want, stored)
			}
		}
	})
}

// FuzzStatus stores arbitrary report bytes, cluster IDs and times, as an
// agent sends them, and reads them back unchanged.
func FuzzStatus(f *testing.F) {
	f.Add("c1", []byte(`{"generation":1}`), int64(1))
	f.Add("", []byte{}, int64(-1))
	f.Add("\x00", []byte{0xff}, int64(1<<62))
	db := openTemp(f)
	f.Fuzz(func(t *testing.T, id string, report []byte, at int64) {
		if at == 0 {
			t.Skip("the Unix epoch itself encodes the zero time")
		}
		ctx := t.Context()
		want := store.ClusterStatus{ClusterID: id, Report: report, ReceivedAt: time.Unix(0, at)}
		if err := db.PutStatuses(ctx, []store.ClusterStatus{want}); err != nil {
			t.Fatalf("putting: %v", err)
		}
		all, err := db.ListStatuses(ctx)
		if err != nil {
			t.Fatalf("listing: %v", err)
		}
		for _, got := range all {
			if got.ClusterID != id {
				continue
			}
			if !bytes.Equal(got.Report, report) || !got.ReceivedAt.Equal(want.ReceivedAt) {
				t.Fatalf("got %q at %v, want %q at %v", got.Report, got.ReceivedAt, report, want.ReceivedAt)
			}
			return
		}
		t.Fatalf("status of %q missing after put", id)
	})
}
