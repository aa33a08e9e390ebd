package renderworker

import (
	"context"
	"path/filepath"
	"testing"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
)

// BenchmarkRender compares a render in process with the same render in a
// worker, for a small raw bundle and a small chart: the difference is
// the worker's per-render overhead (encoding, two pipe hops, decoding).
func BenchmarkRender(b *testing.B) {
	root, err := filepath.Abs(filepath.Join("..", "render", "testdata", "targets", "fleet-layout", "repo"))
	if err != nil {
		b.Fatal(err)
	}
	found, err := bundle.Discover(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	pool := newTestPool(b, Options{Workers: 1})
	renderers := []struct {
		name string
		r    render.Renderer
	}{{"in-process", render.InProcess{}}, {"worker", pool}}
	for _, p := range []string{"manifests", "helm"} {
		var bd bundle.Bundle
		for _, x := range found {
			if x.Path == p {
				bd = x
			}
		}
		eff, _, err := render.Resolve(bd, render.Target{Labels: map[string]string{"env": "prod"}})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range renderers {
			b.Run(p+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.r.Render(context.Background(), root, bd, eff); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
