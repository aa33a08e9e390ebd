package render

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// treeTarget is one cluster of a golden case's targets.yaml.
type treeTarget struct {
	Name        string                       `json:"name"`
	ClusterName string                       `json:"clusterName"`
	Labels      map[string]string            `json:"labels"`
	Groups      map[string]map[string]string `json:"groups"`
	KubeVersion string                       `json:"kubeVersion"`
	APIVersions []string                     `json:"apiVersions"`
}

// formatTree writes what `flotilla render` prints, with each bundle's
// outcome as a comment, for golden files.
func formatTree(t *testing.T, results []Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range results {
		fmt.Fprintf(&buf, "# bundle %s (%s)\n", r.Bundle.Path, r.Name)
		switch {
		case r.Skipped:
			buf.WriteString("# doNotDeploy\n")
		case r.Err != nil:
			fmt.Fprintf(&buf, "# error: %v\n", r.Err)
		default:
			if err := WriteYAML(&buf, r.Objects); err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, r.Objects)
		}
	}
	return buf.Bytes()
}

// TestRenderTreeGolden renders every case under testdata/targets for each
// cluster of its targets.yaml and compares with want/<cluster>.yaml.
func TestRenderTreeGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "targets", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "targets.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var targets []treeTarget
			if err := yaml.UnmarshalStrict(data, &targets); err != nil {
				t.Fatalf("targets.yaml: %v", err)
			}
			for _, tt := range targets {
				t.Run(tt.Name, func(t *testing.T) {
					target := Target{Name: tt.ClusterName, Labels: tt.Labels, Groups: tt.Groups, KubeVersion: tt.KubeVersion, APIVersions: tt.APIVersions}
					results, err := RenderTree(context.Background(), filepath.Join(dir, "repo"), target, TreeOptions{Source: "test", Options: Options{ChartCacheDir: t.TempDir()}})
					if err != nil {
						t.Fatalf("RenderTree: %v", err)
					}
					got := formatTree(t, results)
					golden := filepath.Join(dir, "want", tt.Name+".yaml")
					if *update {
						if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(golden, got, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					want, err := os.ReadFile(golden)
					if err != nil {
						t.Fatalf("reading golden file (run with -update to create it): %v", err)
					}
					if diff := cmp.Diff(string(want), string(got)); diff != "" {
						t.Errorf("RenderTree (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}
