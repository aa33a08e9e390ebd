package bundle

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// realFiles returns the content of files named like name under the
// repositories in this module's testdata and examples, as fuzz seeds.
func realFiles(f *testing.F, match func(path string) bool) [][]byte {
	f.Helper()
	var out [][]byte
	for _, root := range []string{filepath.Join("..", "render", "testdata"), filepath.Join("..", "..", "examples")} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !match(filepath.ToSlash(p)) {
				return err
			}
			data, err := os.ReadFile(p)
			out = append(out, data)
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	if len(out) == 0 {
		f.Fatal("no seed files found")
	}
	return out
}

// FuzzParse: a fleet.yaml is refused with a *ParseError that names
// fleet.yaml and nothing else returned, or accepted as options that
// survive a round trip through their Go type: encoded as JSON (which is
// YAML) and parsed again, they encode the same.
func FuzzParse(f *testing.F) {
	for _, s := range realFiles(f, func(p string) bool { return strings.HasSuffix(p, "/fleet.yaml") }) {
		f.Add(s)
	}
	for _, s := range []string{
		"", "defaultNamespace: a\n", "kustomize: {dir: x}\n", "a: &a [*a]\n",
		"helm:\n  values: {a: [1, 2.5, true, null, ~, 1e400, .nan, 0x1F, 2024-01-01]}\n", "rolloutStrategy: {maxUnavailable: 10%}\n",
		"<<: {namespace: x}\n", "dependsOn: [{selector: {matchLabels: {a: b}}}]\n",
		"helm:\n  values: {\"<<\": {a: 1}, '': x, \"\\xff\": y}\n", "labels: {a: !!binary aGk=}\n",
		"dependsOn: [{name: a, acceptedStates: [Ready, Bogus]}]\n", "forceSyncGeneration: 9223372036854775808\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, warnings, err := Parse(data)
		for _, w := range warnings {
			if !strings.HasPrefix(w, FleetFile) {
				t.Fatalf("warning %q does not name %s", w, FleetFile)
			}
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != FleetFile {
				t.Fatalf("error %v is not a ParseError naming %s", err, FleetFile)
			}
			if diff := cmp.Diff(Options{}, opts); diff != "" {
				t.Fatalf("Parse returned options with an error:\n%s", diff)
			}
			return
		}
		first, err := json.Marshal(opts)
		if err != nil {
			t.Fatalf("accepted options do not encode: %v", err)
		}
		again, _, err := Parse(first)
		if err != nil {
			t.Fatalf("accepted options, encoded, do not parse: %v\n%s", err, first)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(first) != string(second) {
			t.Fatalf("options change in a round trip:\n%s\n%s", first, second)
		}
	})
}

// FuzzDiscoverFleetFile: through discovery, as the hub reads it, a
// fleet.yaml's errors and warnings name its path in the checkout.
func FuzzDiscoverFleetFile(f *testing.F) {
	root := f.TempDir()
	dir := filepath.Join(root, "apps", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("defaultNamespace: web\n"))
	f.Add([]byte("helm: [\n"))
	f.Add([]byte("unknown: 1\nhelm: {valuesFiles: [missing.yaml]}\n"))
	f.Add([]byte("dependsOn: [{}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		bundles, err := Discover(root, nil)
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		if len(bundles) != 1 || bundles[0].Path != "apps/web" {
			t.Fatalf("discovered %+v, want apps/web alone", bundles)
		}
		b := bundles[0]
		for _, w := range b.Warnings {
			if !strings.HasPrefix(w, "apps/web/fleet.yaml") {
				t.Fatalf("warning %q does not name apps/web/fleet.yaml", w)
			}
		}
		if b.Err != nil && !strings.Contains(b.Err.Error(), "apps/web/") {
			t.Fatalf("error %q does not name a file under apps/web", b.Err)
		}
	})
}

// FuzzValuesFile: a values file is refused with an error naming it, or read
// exactly as Helm reads values files (so a chart sees the same values from
// Flotilla as from `helm template`), as a map that survives a round trip.
func FuzzValuesFile(f *testing.F) {
	root := f.TempDir()
	dir := filepath.Join(root, "apps", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	fleet := "helm:\n  valuesFiles: [values/a.yaml]\ntargetCustomizations:\n- name: x\n  helm: {valuesFiles: [values/a.yaml]}\n"
	if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(fleet), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "values"), 0o755); err != nil {
		f.Fatal(err)
	}
	for _, s := range realFiles(f, func(p string) bool {
		return strings.Contains(p, "/values/") || strings.HasSuffix(p, "/values.yaml") && !strings.Contains(p, "/templates/")
	}) {
		f.Add(s)
	}
	for _, s := range []string{"", "null", "- a\n", "a: &a [*a]\n", "a: .nan\nb: .inf\n", "a: {b: [1, 2.5, 1e400]}\n", "? [a]\n: b\n", "1: one\ntrue: yes\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "values", "a.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		bundles, err := Discover(root, nil)
		if err != nil || len(bundles) != 1 {
			t.Fatalf("Discover: %d bundles, %v", len(bundles), err)
		}
		b := bundles[0]
		helmVals, helmErr := chartutil.ReadValues(data)
		if b.Err != nil {
			var pe *ParseError
			if !errors.As(b.Err, &pe) || pe.File != "apps/web/values/a.yaml" {
				t.Fatalf("error %v does not name apps/web/values/a.yaml", b.Err)
			}
			if helmErr == nil {
				t.Fatalf("refused a values file Helm reads: %v", b.Err)
			}
			return
		}
		if helmErr != nil {
			t.Fatalf("read a values file Helm refuses: %v", helmErr)
		}
		got := b.ValuesFiles["values/a.yaml"]
		if diff := cmp.Diff(map[string]any(helmVals), got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("values differ from Helm's reading (-helm +flotilla):\n%s", diff)
		}
		enc, err := yaml.Marshal(got)
		if err != nil {
			t.Fatalf("values read do not encode: %v", err)
		}
		var back map[string]any
		if err := yaml.Unmarshal(enc, &back); err != nil {
			t.Fatalf("values read, encoded, do not decode: %v", err)
		}
		if diff := cmp.Diff(got, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("values change in a round trip:\n%s", diff)
		}
	})
}
