package render

import (
	"context"
	"path/filepath"
	"testing"

	"flotilla.io/flotilla/internal/bundle"
)

func benchBundle(b *testing.B, p string) (string, bundle.Bundle) {
	b.Helper()
	root := filepath.Join("testdata", "targets", "fleet-layout", "repo")
	bundles, err := bundle.Discover(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range bundles {
		if x.Path == p {
			return root, x
		}
	}
	b.Fatalf("no bundle %s", p)
	return "", bundle.Bundle{}
}

// BenchmarkResolveKey is the hub's per-cluster cost: pick the
// customization and hash the effective options.
func BenchmarkResolveKey(b *testing.B) {
	_, bd := benchBundle(b, "helm")
	t := Target{Name: "c", Labels: map[string]string{"env": "prod", "flotilla.io/arch": "arm64"}, KubeVersion: "v1.37.2"}
	b.ReportAllocs()
	for b.Loop() {
		e, _, err := Resolve(bd, t)
		if err != nil {
			b.Fatal(err)
		}
		_ = e.Key()
	}
}

func BenchmarkRender(b *testing.B) {
	for _, p := range []string{"manifests", "kustomize", "helm", "helm-kustomize"} {
		b.Run(p, func(b *testing.B) {
			root, bd := benchBundle(b, p)
			e, _, err := Resolve(bd, Target{Labels: map[string]string{"env": "prod"}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := RenderEffective(context.Background(), root, bd, e, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
