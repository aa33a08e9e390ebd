// Package storetest is the contract every store.Store backend passes. A
// backend's test calls Run with a function that opens an empty store; the
// suite checks each documented behaviour in its own subtest, so SQLite and
// PostgreSQL are held to the same promises.
package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"flotilla.io/flotilla/internal/store"
)

// Run runs the contract suite. open must return an empty store for the
// subtest and close it with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"clusters", clusterTests},
		{"tokens", tokenTests},
		{"sources", sourceTests},
		{"bundles", bundleTests},
		{"objects", objectTests},
		{"manifests", manifestTests},
		{"statuses", statusTests},
		{"groups", groupTests},
		{"releases", releaseTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, open(t))
				})
			}
		})
	}
}

// test is one behaviour of the contract.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// t0 is an arbitrary instant with nanoseconds, so that lost precision shows.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 890123456, time.UTC)

// opts compares store values: times by instant (cmp uses time.Time.Equal),
// nil and empty maps, slices and byte slices alike, since backends need not
// keep the difference.
var opts = cmp.Options{cmpopts.EquateEmpty()}

// diff fails t when got and want differ.
func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// must fails t at once on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails t unless err is target (nil meaning success).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}
