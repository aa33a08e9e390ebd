package storetest

import (
	"fmt"
	"testing"

	"flotilla.io/flotilla/internal/store"
)

var objectTests = []test{
	{"put and get", testObjectPutGet},
	{"existing hashes are left alone", testObjectIdempotent},
	{"many", testObjectMany},
}

func testObjectPutGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	put := map[string][]byte{
		"h1":    []byte(`{"kind":"ConfigMap"}`),
		"h2":    {0, 1, 2, 255},
		"empty": {},
	}
	must(t, "putting", s.PutObjects(ctx, put))
	must(t, "putting nothing", s.PutObjects(ctx, nil))
	tests := []struct {
		name   string
		hashes []string
		want   map[string][]byte
	}{
		{"all", []string{"h1", "h2", "empty"}, put},
		{"some missing", []string{"h1", "nope", "h2", "gone"}, map[string][]byte{"h1": put["h1"], "h2": put["h2"]}},
		{"all missing", []string{"nope"}, map[string][]byte{}},
		{"repeated", []string{"h1", "h1"}, map[string][]byte{"h1": put["h1"]}},
		{"none", nil, map[string][]byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GetObjects(ctx, tc.hashes)
			must(t, "getting", err)
			diff(t, "objects", tc.want, got)
			// EquateEmpty would hide an empty object gone missing.
			if len(got) != len(tc.want) {
				t.Errorf("got %d objects, want %d", len(got), len(tc.want))
			}
		})
	}
}

func testObjectIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting", s.PutObjects(ctx, map[string][]byte{"h1": []byte("first")}))
	must(t, "putting again", s.PutObjects(ctx, map[string][]byte{"h1": []byte("second"), "h2": []byte("new")}))
	got, err := s.GetObjects(ctx, []string{"h1", "h2"})
	must(t, "getting", err)
	diff(t, "objects", map[string][]byte{"h1": []byte("first"), "h2": []byte("new")}, got)
}

// testObjectMany crosses any chunking a backend does for long lists.
func testObjectMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 2500
	put := make(map[string][]byte, n)
	var hashes []string
	for i := range n {
		h := fmt.Sprintf("sha256:%064d", i)
		put[h] = fmt.Appendf(nil, `{"i":%d}`, i)
		hashes = append(hashes, h)
	}
	must(t, "putting half", s.PutObjects(ctx, map[string][]byte{hashes[0]: put[hashes[0]], hashes[n-1]: put[hashes[n-1]]}))
	must(t, "putting", s.PutObjects(ctx, put))
	got, err := s.GetObjects(ctx, append(hashes, "missing"))
	must(t, "getting", err)
	diff(t, "objects", put, got)
}
