package bundle

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadValuesFiles(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.yaml": "password: x\n"})
	tests := []struct {
		name    string
		files   map[string]string // under the root; the bundle is app/
		want    map[string]map[string]any
		wantErr string
	}{
		{
			name: "bundle and customizations",
			files: map[string]string{
				"app/fleet.yaml": "helm:\n  valuesFiles: [v.yaml, sub/w.yaml]\n" +
					"targets:\n- name: t\n  helm: {valuesFiles: [t.yaml]}\n" +
					"targetCustomizations:\n- name: c\n  helm: {valuesFiles: [v.yaml, ../shared/c.yaml]}\n",
				"app/v.yaml":     "a: 1\nenv: global.fleet.clusterLabels.env\n",
				"app/sub/w.yaml": "b: {c: [x]}\n",
				"app/t.yaml":     "",
				"shared/c.yaml":  "name: ${ .ClusterName }\n",
			},
			want: map[string]map[string]any{
				"v.yaml":           {"a": float64(1), "env": "global.fleet.clusterLabels.env"},
				"sub/w.yaml":       {"b": map[string]any{"c": []any{"x"}}},
				"t.yaml":           nil,
				"../shared/c.yaml": {"name": "${ .ClusterName }"},
			},
		},
		{
			name:  "none",
			files: map[string]string{"app/fleet.yaml": "helm: {chart: c}\n"},
		},
		{
			name:    "missing",
			files:   map[string]string{"app/fleet.yaml": "helm: {valuesFiles: [v.yaml]}\n"},
			wantErr: `app/fleet.yaml: helm.valuesFiles[0]: "v.yaml" does not exist`,
		},
		{
			name:    "missing in a customization",
			files:   map[string]string{"app/fleet.yaml": "targetCustomizations:\n- name: a\n- name: b\n  helm: {valuesFiles: [v.yaml]}\n"},
			wantErr: `app/fleet.yaml: targetCustomizations[1].helm.valuesFiles[0]: "v.yaml" does not exist`,
		},
		{
			name:    "climbing out",
			files:   map[string]string{"app/fleet.yaml": "helm: {valuesFiles: [../../etc/passwd]}\n"},
			wantErr: `app/fleet.yaml: helm.valuesFiles[0]: "../../etc/passwd" leads outside the checkout`,
		},
		{
			name:    "absolute",
			files:   map[string]string{"app/fleet.yaml": "helm: {valuesFiles: [/etc/passwd]}\n"},
			wantErr: `app/fleet.yaml: helm.valuesFiles[0]: "/etc/passwd" must be relative to the bundle directory`,
		},
		{
			name: "symlink out of the checkout",
			files: map[string]string{
				"app/fleet.yaml": "helm: {valuesFiles: [v.yaml]}\n",
				"app/v.yaml":     "-> " + filepath.Join(outside, "secret.yaml"),
			},
			wantErr: "leads outside the checkout",
		},
		{
			name:    "directory",
			files:   map[string]string{"app/fleet.yaml": "helm: {valuesFiles: [d]}\n", "app/d/x.yaml": "a: 1\n"},
			wantErr: `app/fleet.yaml: helm.valuesFiles[0]: "d" is a directory`,
		},
		{
			name:    "not YAML",
			files:   map[string]string{"app/fleet.yaml": "helm: {valuesFiles: [v.yaml]}\n", "app/v.yaml": "a: 1\nb: [\n"},
			wantErr: "app/v.yaml:2: did not find expected node content",
		},
		{
			name:    "not a map",
			files:   map[string]string{"app/fleet.yaml": "helm: {valuesFiles: [v.yaml]}\n", "app/v.yaml": "- a\n"},
			wantErr: "app/v.yaml: values must be a map",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			bundles, err := Discover(root, []string{"app"})
			if err != nil {
				t.Fatal(err)
			}
			if len(bundles) != 1 {
				t.Fatalf("got %d bundles, want 1", len(bundles))
			}
			b := bundles[0]
			if tt.wantErr != "" {
				if b.Err == nil || !strings.Contains(b.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want one containing %q", b.Err, tt.wantErr)
				}
				if pe := (*ParseError)(nil); !errors.As(b.Err, &pe) && !strings.Contains(b.Err.Error(), "app/v.yaml") {
					t.Errorf("Err = %T, want one naming the file", b.Err)
				}
				return
			}
			if b.Err != nil {
				t.Fatal(b.Err)
			}
			if diff := cmp.Diff(tt.want, b.ValuesFiles); diff != "" {
				t.Errorf("ValuesFiles (-want +got):\n%s", diff)
			}
			// ReadValuesFiles on a bundle built by hand reads the same.
			hand := Bundle{Path: b.Path, Options: b.Options}
			if err := ReadValuesFiles(root, &hand); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, hand.ValuesFiles); diff != "" {
				t.Errorf("ReadValuesFiles (-want +got):\n%s", diff)
			}
		})
	}
}
