package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/bundle"
)

func parseBundle(t *testing.T, path, fleetYAML string) bundle.Bundle {
	t.Helper()
	opts, _, err := bundle.Parse([]byte(fleetYAML))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return bundle.Bundle{Path: path, Options: opts}
}

func TestResolve(t *testing.T) {
	b := parseBundle(t, "app", `
defaultNamespace: base
helm:
  chart: chart
  values: {a: 1}
  valuesFiles: [v.yaml]
targetCustomizations:
- name: none
- name: prod-eu
  clusterSelector:
    matchLabels: {env: prod}
  clusterGroup: eu
  helm:
    values: {a: 2}
- name: prod
  clusterSelector:
    matchExpressions: [{key: env, operator: In, values: [prod]}]
  namespace: forced
- name: one
  clusterName: special
  doNotDeploy: true
- name: core-groups
  clusterGroupSelector:
    matchLabels: {tier: core}
  defaultNamespace: core
`)
	b.ValuesFiles = map[string]map[string]any{"v.yaml": {"b": float64(1)}}
	tests := []struct {
		name     string
		target   Target
		wantName string
		wantSkip bool
		wantNS   [2]string // namespace, defaultNamespace
		values   map[string]any
	}{
		{name: "no match", target: Target{Name: "x", Labels: map[string]string{"env": "dev"}}, wantNS: [2]string{"", "base"},
			values: map[string]any{"a": int64(1), "b": float64(1)}},
		{name: "first match wins", target: Target{Labels: map[string]string{"env": "prod"}, Groups: map[string]map[string]string{"eu": nil}},
			wantName: "prod-eu", wantNS: [2]string{"", "base"},
			values: map[string]any{"a": int64(2), "b": float64(1)}},
		{name: "group missing falls through", target: Target{Labels: map[string]string{"env": "prod"}, Groups: map[string]map[string]string{"us": nil}},
			wantName: "prod", wantNS: [2]string{"forced", "base"},
			values: map[string]any{"a": int64(1), "b": float64(1)}},
		{name: "doNotDeploy", target: Target{Name: "special"}, wantName: "one", wantSkip: true},
		{name: "group selector", target: Target{Groups: map[string]map[string]string{"g": {"tier": "core"}}}, wantName: "core-groups", wantNS: [2]string{"", "core"},
			values: map[string]any{"a": int64(1), "b": float64(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, skip, err := Resolve(b, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if eff.Customization != tt.wantName || skip != tt.wantSkip {
				t.Fatalf("got customization %q skip %v, want %q %v", eff.Customization, skip, tt.wantName, tt.wantSkip)
			}
			if skip {
				return
			}
			if got := [2]string{eff.Options.Namespace, eff.Options.DefaultNamespace}; got != tt.wantNS {
				t.Errorf("namespaces = %v, want %v", got, tt.wantNS)
			}
			if diff := cmp.Diff(tt.values, eff.Values); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKey(t *testing.T) {
	raw := parseBundle(t, "raw", "targetCustomizations:\n- clusterSelector: {matchLabels: {env: prod}}\n  namespace: prod\n")
	chart := parseBundle(t, "chart", "helm: {chart: c}\n")
	key := func(b bundle.Bundle, tg Target) string {
		e, _, err := Resolve(b, tg)
		if err != nil {
			t.Fatal(err)
		}
		return e.Key()
	}
	dev1 := Target{Name: "a", Labels: map[string]string{"env": "dev", "x": "1"}, KubeVersion: "v1.36.0"}
	dev2 := Target{Name: "b", Labels: map[string]string{"env": "dev"}, KubeVersion: "v1.37.2"}
	prod := Target{Name: "c", Labels: map[string]string{"env": "prod"}}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"raw: clusters without a customization share", key(raw, dev1), key(raw, dev2), true},
		{"raw: a customization changes the key", key(raw, dev1), key(raw, prod), false},
		{"helm: the Kubernetes version changes the key", key(chart, dev1), key(chart, dev2), false},
		{"helm: API version order does not matter", key(chart, Target{APIVersions: []string{"b/v1", "a/v1"}}), key(chart, Target{APIVersions: []string{"a/v1", "b/v1", "a/v1"}}), true},
		{"helm: labels alone do not change the key", key(chart, Target{Labels: map[string]string{"x": "1"}}), key(chart, Target{}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.same {
				t.Errorf("keys equal = %v, want %v", tt.a == tt.b, tt.same)
			}
		})
	}
}

// TestHelmSafety checks what the renderer reads; values files are read,
// and judged, by discovery (see bundle's TestReadValuesFiles).
func TestHelmSafety(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte("password: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	chart := map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
	}
	tests := []struct {
		name    string
		fleet   string
		link    string // chart-relative symlink to outside/secret.yaml
		wantErr string
	}{
		{name: "chart climbing out", fleet: "helm: {chart: ../x}", wantErr: "leads outside the checkout"},
		{name: "symlink in the chart", fleet: "helm: {chart: chart}", link: "chart/templates/secret.yaml", wantErr: "leads outside the checkout"},
		{name: "remote chart URL", fleet: "helm: {chart: 'https://example.com/c.tgz'}", wantErr: "only a path in the checkout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{"fleet.yaml": tt.fleet}
			for k, v := range chart {
				files[k] = v
			}
			writeFiles(t, root, files)
			if tt.link != "" {
				if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, tt.link)); err != nil {
					t.Fatal(err)
				}
			}
			bundles, err := bundle.Discover(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := bundles[0]
			b.Err = nil // judge the renderer, not discovery
			_, err = RenderEffective(context.Background(), root, b, Base(b), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			var re *Error
			if !errors.As(err, &re) && !strings.Contains(err.Error(), "rendering bundle") {
				t.Errorf("err = %T, want a bundle error", err)
			}
		})
	}
}

func TestRemoteKustomizeAllowed(t *testing.T) {
	// A closed loopback port: the attempt fails at once, without network.
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"app/kustomization.yaml": "resources:\n- http://127.0.0.1:1/x.yaml\n"})
	b := findBundle(t, root, "app")
	_, err := RenderEffective(context.Background(), root, b, Base(b), Options{})
	if err == nil || !strings.Contains(err.Error(), "remote reference") {
		t.Fatalf("without AllowRemoteKustomize: err = %v, want a refusal", err)
	}
	// Allowed, the reference passes the check and Kustomize itself fetches
	// it (and fails here): only the refusal must be gone.
	_, err = RenderEffective(context.Background(), root, b, Base(b), Options{AllowRemoteKustomize: true})
	if err == nil || strings.Contains(err.Error(), "remote reference") {
		t.Fatalf("with AllowRemoteKustomize: err = %v, want Kustomize's own failure", err)
	}
}

func TestResolveTargetsBeforeCustomizations(t *testing.T) {
	b := parseBundle(t, "app", `
targetCustomizations:
- name: from-customizations
  clusterSelector: {}
targets:
- name: from-targets
  clusterSelector: {matchLabels: {env: dev}}
`)
	for _, tt := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"env": "dev"}, "from-targets"},
		{map[string]string{"env": "prod"}, "from-customizations"},
	} {
		eff, _, err := Resolve(b, Target{Labels: tt.labels})
		if err != nil {
			t.Fatal(err)
		}
		if eff.Customization != tt.want {
			t.Errorf("labels %v: customization %q, want %q", tt.labels, eff.Customization, tt.want)
		}
	}
}

func TestResolveClusterValues(t *testing.T) {
	tests := []struct {
		name    string
		fleet   string
		target  Target
		want    map[string]any
		wantErr string
	}{
		{name: "label reference", fleet: "helm: {chart: c, values: {zone: global.fleet.clusterLabels.zone, list: [global.fleet.clusterLabels.zone]}}",
			target: Target{Labels: map[string]string{"zone": "eu"}}, want: map[string]any{"zone": "eu", "list": []any{"eu"}}},
		{name: "missing label", fleet: "helm: {chart: c, values: {zone: global.fleet.clusterLabels.zone}}",
			wantErr: `no label "zone"`},
		{name: "template", fleet: "helm: {chart: c, values: {name: '${ .ClusterName }', n: 3}}",
			target: Target{Name: "c1"}, want: map[string]any{"name": "c1", "n": int64(3)}},
		{name: "template with a missing key", fleet: "helm: {chart: c, values: {x: '${ .Nope }'}}", wantErr: "templating helm.values"},
		{name: "no env function", fleet: "helm: {chart: c, values: {x: '${ env \"HOME\" }'}}", wantErr: "helm.values template"},
		{name: "a replaced label reference is not looked up", fleet: "helm: {chart: c, values: {zone: global.fleet.clusterLabels.zone}}\n" +
			"targetCustomizations: [{name: all, clusterSelector: {}, helm: {values: {zone: here}}}]",
			want: map[string]any{"zone": "here"}},
		{name: "disablePreProcess", fleet: "helm: {chart: c, disablePreProcess: true, values: {name: '${ .ClusterName }'}}",
			target: Target{Name: "c1"}, want: map[string]any{"name": "${ .ClusterName }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolvedValues(parseBundle(t, "b", tt.fleet), tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNameSensitive(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		files map[string]map[string]any
		want  bool
	}{
		{"plain", "defaultNamespace: a\n", nil, false},
		{"customization by label", "targetCustomizations:\n- name: dev\n  clusterSelector: {matchLabels: {env: dev}}\n  namespace: a-dev\n", nil, false},
		{"label substitution only", "helm:\n  values:\n    env: global.fleet.clusterLabels.env\n", nil, false},
		{"customization by name", "targetCustomizations:\n- name: one\n  clusterName: edge-1\n  namespace: a-one\n", nil, true},
		{"templated values", "helm:\n  values:\n    name: ${ .ClusterName }\n", nil, true},
		{"templated customization values", "targetCustomizations:\n- name: all\n  clusterSelector: {}\n  helm:\n    values:\n      name: ${ .ClusterName }\n", nil, true},
		{"values file with label substitution only", "helm:\n  valuesFiles: [v.yaml]\n",
			map[string]map[string]any{"v.yaml": {"env": "global.fleet.clusterLabels.env"}}, false},
		{"templated values file", "helm:\n  valuesFiles: [v.yaml]\n",
			map[string]map[string]any{"v.yaml": {"a": map[string]any{"name": "${ .ClusterName }"}}}, true},
		{"templated customization values file", "targetCustomizations:\n- name: all\n  clusterSelector: {}\n  helm:\n    valuesFiles: [c.yaml]\n",
			map[string]map[string]any{"c.yaml": {"name": "x-${ .ClusterName }"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, _, err := bundle.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			b := bundle.Bundle{Options: opts, ValuesFiles: tc.files}
			if got := NameSensitive(b); got != tc.want {
				t.Errorf("NameSensitive = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestValuesFiles checks that values files are pre-processed per cluster
// like inline values, and what that does to render keys: a template that
// reads the name and one label is keyed by those alone.
func TestValuesFiles(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"labels/fleet.yaml": "helm: {chart: c, values: {a: 1}, valuesFiles: [v.yaml]}\n" +
			"targetCustomizations:\n- name: prod\n  clusterSelector: {matchLabels: {env: prod}}\n  helm: {valuesFiles: [prod.yaml]}\n",
		"labels/v.yaml":    "env: global.fleet.clusterLabels.env\nlist: [global.fleet.clusterLabels.env, 2]\n",
		"labels/prod.yaml": "a: 3\nprod: global.fleet.clusterLabels.env\n",
		"named/fleet.yaml": "helm: {chart: c, valuesFiles: [v.yaml]}\n",
		"named/v.yaml":     "name: ${ .ClusterName }-${ .ClusterLabels.env }\n",
		"raw/fleet.yaml":   "helm: {chart: c, disablePreProcess: true, valuesFiles: [v.yaml]}\n",
		"raw/v.yaml":       "env: global.fleet.clusterLabels.env\nname: ${ .ClusterName }\n",
	})
	labels, named, raw := findBundle(t, root, "labels"), findBundle(t, root, "named"), findBundle(t, root, "raw")
	if NameSensitive(labels) || !NameSensitive(named) {
		t.Errorf("NameSensitive: labels %v, named %v; want false, true", NameSensitive(labels), NameSensitive(named))
	}
	dev1 := Target{Name: "a", Labels: map[string]string{"env": "dev"}}
	dev2 := Target{Name: "b", Labels: map[string]string{"env": "dev"}}
	test := Target{Name: "a", Labels: map[string]string{"env": "test"}}
	prod := Target{Name: "p", Labels: map[string]string{"env": "prod"}}
	resolve := func(b bundle.Bundle, tg Target) Effective {
		t.Helper()
		e, _, err := Resolve(b, tg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	values := []struct {
		name   string
		b      bundle.Bundle
		target Target
		want   map[string]any
	}{
		{"labels substituted", labels, dev1, map[string]any{"a": int64(1), "env": "dev", "list": []any{"dev", float64(2)}}},
		{"customization file last", labels, prod, map[string]any{"a": float64(3), "env": "prod", "list": []any{"prod", float64(2)}, "prod": "prod"}},
		{"templated", named, dev2, map[string]any{"name": "b-dev"}},
		{"disablePreProcess", raw, dev1, map[string]any{"env": "dev", "name": "${ .ClusterName }"}},
	}
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolvedValues(tt.b, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
	// Resolving never changes what was read.
	if got := labels.ValuesFiles["v.yaml"]["env"]; got != "global.fleet.clusterLabels.env" {
		t.Errorf("values file changed by Resolve: env = %v", got)
	}

	keys := []struct {
		name string
		a, b Target
		bnd  bundle.Bundle
		same bool
	}{
		{"label substitution: equal labels share", dev1, dev2, labels, true},
		{"label substitution: other labels do not", dev1, test, labels, false},
		{"templated name: other names do not share", dev1, dev2, named, false},
		{"templated name: same name and labels share", dev1, Target{Name: "a", Labels: map[string]string{"env": "dev", "x": "1"}}, named, true},
	}
	for _, tt := range keys {
		t.Run(tt.name, func(t *testing.T) {
			a, b := resolve(tt.bnd, tt.a).Key(), resolve(tt.bnd, tt.b).Key()
			if (a == b) != tt.same {
				t.Errorf("keys equal = %v, want %v", a == b, tt.same)
			}
		})
	}

	t.Run("missing label in a file", func(t *testing.T) {
		_, _, err := Resolve(labels, Target{})
		if err == nil || !strings.Contains(err.Error(), `no label "env"`) {
			t.Errorf("err = %v, want a missing label", err)
		}
	})
	t.Run("file not read", func(t *testing.T) {
		b := labels
		b.ValuesFiles = nil
		_, _, err := Resolve(b, dev1)
		if err == nil || !strings.Contains(err.Error(), `"v.yaml" was not read`) {
			t.Errorf("err = %v, want an unread file", err)
		}
	})
}
