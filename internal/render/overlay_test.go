package render

import (
	"strings"
	"testing"
)

func TestApplyOverlaysErrors(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		overlays []string
		wantErr  string
	}{
		{name: "no base file", files: map[string]string{"overlays/o/x_patch.yaml": "a: 1\n"}, overlays: []string{"o"}, wantErr: "no base file x.yaml"},
		{name: "multi-document base", files: map[string]string{
			"x.yaml": "kind: A\n---\nkind: B\n", "overlays/o/x_patch.yaml": "a: 1\n"}, overlays: []string{"o"}, wantErr: "holds 2 YAML documents"},
		{name: "bad JSON patch", files: map[string]string{
			"x.yaml": "a: 1\n", "overlays/o/x_patch.yaml": "- op: remove\n  path: /nope\n"}, overlays: []string{"o"}, wantErr: "patching x.yaml"},
		{name: "overlay name with a slash", files: map[string]string{}, overlays: []string{"../x"}, wantErr: "invalid overlay name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := make(map[string]rawFile)
			for k, v := range tt.files {
				files[k] = rawFile{data: []byte(v), origin: "b/" + k}
			}
			_, err := applyOverlays(files, tt.overlays)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzOverlayPatch patches arbitrary base files with arbitrary patches:
// errors are fine, panics and unbounded output are not.
func FuzzOverlayPatch(f *testing.F) {
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: 1}\n"), []byte("spec: {replicas: 2}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"), []byte("- op: add\n  path: /spec\n  value: {type: LoadBalancer}\n"))
	f.Add([]byte("kind: Widget\napiVersion: x/v1\nmetadata: {name: w}\n"), []byte("spec: null\n"))
	f.Add([]byte("a: &x [*x]\n"), []byte("[]"))
	f.Fuzz(func(t *testing.T, base, patch []byte) {
		files := map[string]rawFile{
			"x.yaml":                  {data: base, origin: "x.yaml"},
			"overlays/o/x_patch.yaml": {data: patch, origin: "overlays/o/x_patch.yaml"},
		}
		out, err := applyOverlays(files, []string{"o"})
		if err != nil {
			return
		}
		if _, ok := out["overlays/o/x_patch.yaml"]; ok {
			t.Fatal("overlay file left in the output")
		}
		_, _ = decodeManifests(nil, "x.yaml", out["x.yaml"].data, nil)
	})
}
