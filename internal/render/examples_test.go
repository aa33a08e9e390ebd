package render

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExampleWASM checks that examples/wasm reaches only clusters that
// report a wasmtime RuntimeClass.
func TestExampleWASM(t *testing.T) {
	root := filepath.Join("..", "..", "examples")
	tests := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{name: "wasmtime cluster", labels: map[string]string{"runtimeclass.flotilla.io/wasmtime": "true"}, want: []string{"Namespace wasm-demo", "Deployment.apps wasm-demo/hello-wasm"}},
		{name: "other runtime", labels: map[string]string{"runtimeclass.flotilla.io/spin": "true"}},
		{name: "no facts", labels: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, err := RenderTree(context.Background(), root, Target{Labels: tt.labels}, TreeOptions{Paths: []string{"wasm"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 1 {
				t.Fatalf("got %d bundles, want 1", len(results))
			}
			r := results[0]
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			var got []string
			for _, o := range r.Objects {
				got = append(got, describe(o))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if r.Skipped != (tt.want == nil) {
				t.Errorf("Skipped = %v", r.Skipped)
			}
		})
	}
}
