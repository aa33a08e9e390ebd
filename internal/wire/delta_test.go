package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func hashOf(s string) string { return Hash([]byte(s)) }

func content(t testing.TB, refs ...BundleRef) []byte {
	t.Helper()
	c, err := ManifestContent(refs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeltaRoundTrip(t *testing.T) {
	a, b, c, d := hashOf("a"), hashOf("b"), hashOf("c"), hashOf("d")
	base := content(t,
		BundleRef{Name: "app", Source: "s", Commit: "c1", Objects: []string{a, b}},
		BundleRef{Name: "db", Source: "s", Commit: "c1", Objects: []string{c}},
		BundleRef{Name: "gone", Source: "s", Commit: "c1", Objects: []string{d}},
	)
	tests := []struct {
		name string
		to   []BundleRef
		// whole names bundles that must come as a whole ref.
		whole []string
	}{
		{"nothing changes", []BundleRef{{Name: "app", Source: "s", Commit: "c1", Objects: []string{a, b}}, {Name: "db", Source: "s", Commit: "c1", Objects: []string{c}}, {Name: "gone", Source: "s", Commit: "c1", Objects: []string{d}}}, nil},
		{"commit and one object", []BundleRef{{Name: "app", Source: "s", Commit: "c2", Objects: []string{a, d}}, {Name: "db", Source: "s", Commit: "c2", Objects: []string{c}}}, nil},
		{"objects added", []BundleRef{{Name: "app", Source: "s", Commit: "c2", Objects: []string{a, b, c}}}, []string{"app"}},
		{"new bundle", []BundleRef{{Name: "new", Source: "s", Commit: "c2", Objects: []string{a}}}, []string{"new"}},
		{"error appears", []BundleRef{{Name: "app", Source: "s", Commit: "c2", Objects: []string{a, b}, Error: "boom"}}, []string{"app"}},
		{"drift policy changes", []BundleRef{{Name: "app", Source: "s", Commit: "c1", Objects: []string{a, b}, Drift: &DriftPolicy{}}}, []string{"app"}},
		{"empty", []BundleRef{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := content(t, tc.to...)
			d, err := MakeDelta(base, want)
			if err != nil {
				t.Fatal(err)
			}
			var whole []string
			for _, bd := range d.Bundles {
				if bd.Ref != nil {
					whole = append(whole, bd.Ref.Name)
				}
			}
			if strings.Join(whole, ",") != strings.Join(tc.whole, ",") {
				t.Errorf("whole bundles = %v, want %v", whole, tc.whole)
			}
			// Across the wire and back.
			var got ContentDelta
			if err := json.Unmarshal(mustCanonical(t, d), &got); err != nil {
				t.Fatal(err)
			}
			rebuilt, err := got.Apply(base)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rebuilt, want) {
				t.Errorf("rebuilt %s\nwant    %s", rebuilt, want)
			}
		})
	}
}

func mustCanonical(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Canonical(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeltaRefusals(t *testing.T) {
	a := hashOf("a")
	base := content(t, BundleRef{Name: "app", Commit: "c1", Objects: []string{a}})
	tests := []struct {
		name string
		d    ContentDelta
		base []byte
	}{
		{"other base", ContentDelta{Base: hashOf("other")}, base},
		{"unknown bundle", ContentDelta{Base: Hash(base), Bundles: []BundleDelta{{Name: "nope"}}}, base},
		{"index out of range", ContentDelta{Base: Hash(base), Bundles: []BundleDelta{{Name: "app", Set: []ObjectAt{{Index: 1, Hash: a}}}}}, base},
		{"negative index", ContentDelta{Base: Hash(base), Bundles: []BundleDelta{{Name: "app", Set: []ObjectAt{{Index: -1, Hash: a}}}}}, base},
		{"base not content", ContentDelta{Base: hashOf("{")}, []byte("{")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.d.Apply(tc.base); err == nil {
				t.Error("applied")
			}
		})
	}
	sm := SignedManifest{Delta: &ContentDelta{Base: hashOf("x")}}
	if _, err := ResolveDelta(sm, nil); err != ErrNoBase {
		t.Errorf("resolve without base = %v, want ErrNoBase", err)
	}
	if _, err := VerifyManifest(make([]byte, 32), sm, "c", 0); err == nil {
		t.Error("verified a manifest whose delta is unresolved")
	}
}

func TestObjectPatch(t *testing.T) {
	obj := func(s string) []byte {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return mustCanonical(t, v)
	}
	tests := []struct {
		name      string
		from, to  string
		wantPatch bool
	}{
		{"one value", `{"kind":"ConfigMap","data":{"a":"1","b":"long unchanged"}}`, `{"kind":"ConfigMap","data":{"a":"2","b":"long unchanged"}}`, true},
		{"key removed", `{"data":{"a":"1","b":"2"}}`, `{"data":{"a":"1"}}`, true},
		{"big integer kept", `{"spec":{"n":9007199254740993,"m":1}}`, `{"spec":{"n":9007199254740993,"m":2}}`, true},
		{"null cannot be patched in", `{"spec":{"a":1}}`, `{"spec":{"a":null}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to := obj(tc.from), obj(tc.to)
			p, ok := DiffObject(from, to)
			if ok != tc.wantPatch {
				t.Fatalf("DiffObject ok = %v (patch %s), want %v", ok, p, tc.wantPatch)
			}
			if !ok {
				return
			}
			so := ShippedObject{Hash: Hash(to), Base: Hash(from), Patch: p}
			got, err := so.Resolve(func(h string) ([]byte, bool) { return from, h == Hash(from) })
			if err != nil || !bytes.Equal(got, to) {
				t.Errorf("resolved %s, %v; want %s", got, err, to)
			}
			so.Hash = hashOf("something else")
			if _, err := so.Resolve(func(string) ([]byte, bool) { return from, true }); err == nil {
				t.Error("resolved an object to a hash it does not have")
			}
			if _, err := (ShippedObject{Hash: Hash(to), Base: Hash(from), Patch: p}).Resolve(func(string) ([]byte, bool) { return nil, false }); err == nil {
				t.Error("resolved a patch onto an object not held")
			}
		})
	}
}

// FuzzResolveDelta: whatever a hub sends as a delta, resolving it never
// panics and yields canonical content (so its digest is the one a hub
// computes) with the delta's bundles, in the delta's order.
func FuzzResolveDelta(f *testing.F) {
	a, b := hashOf("a"), hashOf("b")
	base := content(f, BundleRef{Name: "app", Commit: "c1", Objects: []string{a, b}})
	f.Add([]byte(`{"base":"` + Hash(base) + `","bundles":[{"name":"app","commit":"c2","set":[{"i":1,"h":"` + a + `"}]}]}`))
	f.Add([]byte(`{"base":"` + Hash(base) + `","bundles":[{"ref":{"name":"x","source":"","commit":"","objects":[]}}]}`))
	f.Add([]byte(`{"base":"` + Hash(base) + `","bundles":[{"name":"app","set":[{"i":99,"h":"x"}]}]}`))
	f.Add([]byte(`{"base":"` + Hash(base) + `","bundles":[{"name":"app"},{"name":"app","ref":{"name":"<y>","objects":null}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var d ContentDelta
		if json.Unmarshal(raw, &d) != nil {
			return
		}
		sm, err := ResolveDelta(SignedManifest{Delta: &d}, base)
		if err != nil {
			return
		}
		var refs []BundleRef
		if err := json.Unmarshal(sm.Content, &refs); err != nil {
			t.Fatalf("resolved content does not decode: %v", err)
		}
		if canon := content(t, refs...); !bytes.Equal(canon, sm.Content) {
			t.Fatalf("resolved content is not canonical:\n%s\n%s", sm.Content, canon)
		}
		if len(refs) != len(d.Bundles) {
			t.Fatalf("resolved %d bundles from a delta of %d", len(refs), len(d.Bundles))
		}
		for i, bd := range d.Bundles {
			name := bd.Name
			if bd.Ref != nil {
				name = bd.Ref.Name
			}
			if refs[i].Name != name {
				t.Fatalf("bundle %d is %q, the delta names %q", i, refs[i].Name, name)
			}
		}
	})
}

// FuzzDeltaRoundTrip: for any two manifest contents, the delta the hub
// makes, sent over the wire, rebuilds exactly the new content from the
// old: the hub's side and the agent's side agree.
func FuzzDeltaRoundTrip(f *testing.F) {
	a, b, c := hashOf("a"), hashOf("b"), hashOf("c")
	f.Add(content(f, BundleRef{Name: "app", Source: "s", Commit: "c1", Objects: []string{a, b}}, BundleRef{Name: "db", Objects: []string{c}}),
		content(f, BundleRef{Name: "app", Source: "s", Commit: "c2", Objects: []string{a, c}}))
	f.Add(content(f, BundleRef{Name: "app", Objects: []string{a}}, BundleRef{Name: "app", Objects: []string{b}}),
		content(f, BundleRef{Name: "app", Objects: []string{c}}, BundleRef{Name: "app", Objects: []string{b}}))
	f.Add(content(f, BundleRef{Name: "app", Objects: []string{a}, Drift: &DriftPolicy{Correct: true}}),
		content(f, BundleRef{Name: "app", Objects: []string{b}, Drift: &DriftPolicy{}, Paused: true}))
	f.Add([]byte(`[]`), []byte(`null`))
	f.Fuzz(func(t *testing.T, from, to []byte) {
		var base, next []BundleRef
		if json.Unmarshal(from, &base) != nil || json.Unmarshal(to, &next) != nil {
			return
		}
		// The hub only ever holds canonical content.
		oldC, newC := content(t, base...), content(t, next...)
		d, err := MakeDelta(oldC, newC)
		if err != nil {
			t.Fatalf("MakeDelta: %v", err)
		}
		wireForm, err := json.Marshal(SignedManifest{Delta: d})
		if err != nil {
			t.Fatal(err)
		}
		var got SignedManifest
		if err := json.Unmarshal(wireForm, &got); err != nil {
			t.Fatal(err)
		}
		got, err = ResolveDelta(got, oldC)
		if err != nil {
			t.Fatalf("resolving the hub's own delta: %v", err)
		}
		if !bytes.Equal(got.Content, newC) {
			t.Fatalf("delta rebuilt\n%s\nwant\n%s", got.Content, newC)
		}
	})
}

func FuzzShippedObject(f *testing.F) {
	from := []byte(`{"data":{"a":"1"},"kind":"ConfigMap"}`)
	f.Add([]byte(`{"data":{"a":"2"}}`))
	f.Add([]byte(`{"data":null}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, patch []byte) {
		data, err := PatchObject(from, patch)
		if err != nil {
			return
		}
		so := ShippedObject{Hash: Hash(data), Base: Hash(from), Patch: patch}
		got, err := so.Resolve(func(string) ([]byte, bool) { return from, true })
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("patch %s: resolved %s, %v; want %s", patch, got, err, data)
		}
	})
}

// benchContent is a manifest of 20 bundles of 25 objects, and the same
// with one object of each bundle and every commit changed.
func benchContent(b *testing.B) (base, next []byte) {
	b.Helper()
	var from, to []BundleRef
	for i := range 20 {
		var objs []string
		for j := range 25 {
			objs = append(objs, hashOf(fmt.Sprint(i, j)))
		}
		from = append(from, BundleRef{Name: fmt.Sprintf("fleet-b%02d", i), Source: "fleet", Commit: "c1", Objects: objs})
		changed := slices.Clone(objs)
		changed[3] = hashOf(fmt.Sprint(i, "changed"))
		to = append(to, BundleRef{Name: fmt.Sprintf("fleet-b%02d", i), Source: "fleet", Commit: "c2", Objects: changed})
	}
	return content(b, from...), content(b, to...)
}

func BenchmarkMakeDelta(b *testing.B) {
	base, next := benchContent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MakeDelta(base, next); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveDelta(b *testing.B) {
	base, next := benchContent(b)
	d, err := MakeDelta(base, next)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ResolveDelta(SignedManifest{Delta: d}, base); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkObjectPatch(b *testing.B) {
	from := []byte(`{"apiVersion":"v1","data":{"a":"one value","b":"another value that stays","c":"and a third"},"kind":"ConfigMap","metadata":{"name":"cm","namespace":"ns"}}`)
	to := bytes.Replace(from, []byte("one value"), []byte("a new value"), 1)
	patch, ok := DiffObject(from, to)
	if !ok {
		b.Fatal("no patch")
	}
	held := func(string) ([]byte, bool) { return from, true }
	so := ShippedObject{Hash: Hash(to), Base: Hash(from), Patch: patch}
	b.Run("diff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			DiffObject(from, to)
		}
	})
	b.Run("resolve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := so.Resolve(held); err != nil {
				b.Fatal(err)
			}
		}
	})
}
