package storetest

import (
	"testing"
	"time"

	"flotilla.io/flotilla/internal/store"
)

var releaseTests = []test{
	{"put, list oldest first, push again", testReleasePutList},
	{"same version, other build", testReleaseConflict},
	{"blobs", testReleaseBlobs},
}

func release(version, arch, digest string, at time.Duration) store.Release {
	return store.Release{Version: version, Arch: arch, Digest: digest, Size: 42, Signed: []byte(`{"payload":"e30=","signature":"AA=="}`), CreatedAt: t0.Add(at)}
}

func testReleasePutList(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1 := release("v1", "arm64", "d1", 0)
	v1.Targets = []string{"env=dev"}
	v2 := release("v2", "arm64", "d2", time.Second)
	v2.TargetGroups = []string{"edge"}
	v1amd := release("v1", "amd64", "d3", 2*time.Second)
	for _, r := range []store.Release{v1, v2, v1amd} {
		must(t, "putting "+r.Version, s.PutRelease(ctx, r))
	}
	got, err := s.ListReleases(ctx)
	must(t, "listing", err)
	diff(t, "releases", []store.Release{v1, v2, v1amd}, got)

	// The same build pushed again takes the new targets and moves last.
	again := release("v1", "arm64", "d1", 3*time.Second)
	again.Targets = []string{"env=prod"}
	must(t, "pushing v1 again", s.PutRelease(ctx, again))
	got, err = s.ListReleases(ctx)
	must(t, "listing", err)
	diff(t, "releases after a push again", []store.Release{v2, v1amd, again}, got)
}

func testReleaseConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "putting", s.PutRelease(ctx, release("v1", "arm64", "d1", 0)))
	wantErr(t, "putting another build as v1", s.PutRelease(ctx, release("v1", "arm64", "other", time.Second)), store.ErrConflict)
	got, err := s.ListReleases(ctx)
	must(t, "listing", err)
	diff(t, "releases", []store.Release{release("v1", "arm64", "d1", 0)}, got)
}

func testReleaseBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetReleaseBlob(ctx, "gzip/d1")
	wantErr(t, "getting a missing blob", err, store.ErrNotFound)
	must(t, "putting", s.PutReleaseBlob(ctx, "gzip/d1", []byte("one")))
	must(t, "putting again", s.PutReleaseBlob(ctx, "gzip/d1", []byte("other")))
	must(t, "putting a delta", s.PutReleaseBlob(ctx, "delta/d0/d1", []byte("two")))
	got, err := s.GetReleaseBlob(ctx, "gzip/d1")
	must(t, "getting", err)
	diff(t, "blob", []byte("one"), got)
	keys, err := s.ListReleaseBlobs(ctx)
	must(t, "listing", err)
	diff(t, "keys", []string{"delta/d0/d1", "gzip/d1"}, keys)
}
