package agent

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bytes"
	"github.com/google/go-cmp/cmp"
	"io"
	"k8s.io/apimachinery/pkg/util/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDeployManifest(t *testing.T) {
	tests := []struct {
		name string
		opts DeployOptions
	}{
		{"defaults", DeployOptions{Token: "flt1.aHR0cHM6Ly9odWI.abc.id.secret"}},
		{"named", DeployOptions{Token: "flt1.x.y.z.w", Name: "truck-7", Image: "registry.local/flotilla-agent:v1", StateDir: "/data/flotilla/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeployManifest(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			// Every document must parse as YAML.
			dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(got), 4096)
			docs := 0
			for {
				var obj map[string]any
				if err := dec.Decode(&obj); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("document %d: %v", docs, err)
				}
				docs++
			}
			if docs != 6 {
				t.Errorf("%d documents, want 6", docs)
			}
			golden := filepath.Join("testdata", "deploy-"+tc.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := DeployManifest(DeployOptions{}); err == nil {
		t.Error("no error without a token")
	}
	if _, err := DeployManifest(DeployOptions{Token: "a\"b"}); err == nil {
		t.Error("no error for a token that would break the YAML")
	}
	if _, err := DeployManifest(DeployOptions{Token: "t", StateDir: "var/lib/flotilla"}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("a relative state directory: %v, want an error saying it is not absolute", err)
	}
}
