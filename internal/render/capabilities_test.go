package render

import (
	"os"
	"path/filepath"
	"testing"

	"flotilla.io/flotilla/internal/bundle"
)

func TestReadsCapabilities(t *testing.T) {
	chart := map[string]string{"Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"}
	with := func(base map[string]string, more map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name  string
		files map[string]string
		b     bundle.Bundle
		want  bool
	}{
		{"raw manifests", map[string]string{"cm.yaml": "kind: ConfigMap # Capabilities\n"}, bundle.Bundle{Path: "."}, false},
		{"chart that does not ask", with(chart, map[string]string{"templates/cm.yaml": "kind: ConfigMap\n"}), bundle.Bundle{Path: ".", Chart: true}, false},
		{"chart that asks for API versions", with(chart, map[string]string{"templates/cm.yaml": "{{ if .Capabilities.APIVersions.Has \"x/v1\" }}{{ end }}\n"}), bundle.Bundle{Path: ".", Chart: true}, true},
		{"helper that asks", with(chart, map[string]string{"templates/_h.tpl": "{{ $.Capabilities.KubeVersion }}"}), bundle.Bundle{Path: ".", Chart: true}, true},
		{"packaged subchart", with(chart, map[string]string{"charts/sub-0.1.0.tgz": "\x1f\x8b"}), bundle.Bundle{Path: ".", Chart: true}, true},
		{"repository chart", nil, bundle.Bundle{Path: ".", Options: bundle.Options{DeploymentOptions: bundle.DeploymentOptions{Helm: &bundle.HelmOptions{Repo: "https://charts.example", Chart: "x"}}}}, true},
		{"values template", with(chart, nil), bundle.Bundle{Path: ".", Chart: true, Options: bundle.Options{DeploymentOptions: bundle.DeploymentOptions{Helm: &bundle.HelmOptions{Values: map[string]any{"v": "{{ .Capabilities.KubeVersion }}"}}}}}, true},
		{"values file", with(chart, nil), bundle.Bundle{Path: ".", Chart: true, ValuesFiles: map[string]map[string]any{"v.yaml": {"a": []any{"{{ .Capabilities }}"}}}}, true},
		{"chart elsewhere in the checkout", map[string]string{"charts/app/Chart.yaml": chart["Chart.yaml"], "charts/app/templates/a.yaml": "{{ .Capabilities.KubeVersion }}", "bundle/fleet.yaml": "helm: {chart: ../charts/app}\n"},
			bundle.Bundle{Path: "bundle", Options: bundle.Options{DeploymentOptions: bundle.DeploymentOptions{Helm: &bundle.HelmOptions{Chart: "../charts/app"}}}}, true},
		{"chart path that does not exist: the render fails", map[string]string{"bundle/fleet.yaml": "helm: {chart: ../nothing}\n"},
			bundle.Bundle{Path: "bundle", Options: bundle.Options{DeploymentOptions: bundle.DeploymentOptions{Helm: &bundle.HelmOptions{Chart: "../nothing"}}}}, false},
		{"chart path outside the checkout", map[string]string{"bundle/fleet.yaml": "helm: {chart: ../../x}\n"},
			bundle.Bundle{Path: "bundle", Options: bundle.Options{DeploymentOptions: bundle.DeploymentOptions{Helm: &bundle.HelmOptions{Chart: "../../x"}}}}, true},
		{"chart archive in the checkout", map[string]string{"charts/app-0.1.0.tgz": "\x1f\x8b", "bundle/fleet.yaml": "helm: {chart: ../charts/app-0.1.0.tgz}\n"},
			bundle.Bundle{Path: "bundle", Options: bundle.Options{DeploymentOptions: bundle.DeploymentOptions{Helm: &bundle.HelmOptions{Chart: "../charts/app-0.1.0.tgz"}}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := ReadsCapabilities(root, tc.b); got != tc.want {
				t.Errorf("ReadsCapabilities = %v, want %v", got, tc.want)
			}
		})
	}
}
