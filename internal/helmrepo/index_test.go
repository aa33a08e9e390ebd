package helmrepo

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readIndex(t *testing.T, name string) *index {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "index", name))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := parseIndex(data)
	if err != nil {
		t.Fatalf("parseIndex(%s): %v", name, err)
	}
	return idx
}

func TestPick(t *testing.T) {
	tests := []struct {
		name, file, chart, version string
		want                       string // version picked, or
		wantErr                    string
	}{
		{name: "latest stable", file: "chartmuseum.yaml", chart: "podinfo", want: "6.5.4"},
		{name: "exact", file: "chartmuseum.yaml", chart: "podinfo", version: "6.5.3", want: "6.5.3"},
		{name: "range", file: "chartmuseum.yaml", chart: "podinfo", version: "~6.5.0", want: "6.5.4"},
		{name: "prerelease asked for", file: "chartmuseum.yaml", chart: "podinfo", version: ">=6.6.0-0", want: "6.6.0-rc.1"},
		{name: "exact string with v", file: "chartmuseum.yaml", chart: "cert-manager", version: "v1.14.2", want: "v1.14.2"},
		{name: "without v matches v", file: "chartmuseum.yaml", chart: "cert-manager", version: "1.14.2", want: "v1.14.2"},
		{name: "json index", file: "github-pages.json", chart: "demo", version: "0.2.x", want: "0.2.0"},
		{name: "unsorted and duplicate", file: "hostile.yaml", chart: "odd", want: "3.0.0"},
		{name: "invalid entries dropped", file: "hostile.yaml", chart: "nulls", wantErr: `no version of chart "nulls" matches "*"`},
		{name: "exact match of a non-semver version", file: "hostile.yaml", chart: "nulls", version: "not-semver", want: "not-semver"},
		{name: "no versions", file: "hostile.yaml", chart: "empty", wantErr: `the index has no chart "empty"`},
		{name: "bad constraint", file: "chartmuseum.yaml", chart: "podinfo", version: "latest!", wantErr: `helm.version "latest!" is neither a version nor a semver range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := pick(readIndex(t, tt.file), tt.chart, tt.version)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || e.Version != tt.want {
				t.Fatalf("pick = %+v, %v; want version %s", e, err, tt.want)
			}
		})
	}
}

func TestParseIndexErrors(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{name: "empty", data: "", wantErr: "index.yaml is empty"},
		{name: "no apiVersion", data: "entries: {}\n", wantErr: "no apiVersion"},
		{name: "not yaml", data: "apiVersion: v1\nentries: [\n", wantErr: "yaml"},
		{name: "entries not a map", data: "apiVersion: v1\nentries: 3\n", wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseIndex([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestChartURL(t *testing.T) {
	tests := []struct {
		name, base, raw string
		want            string
		wantErr         string
	}{
		{name: "relative", base: "https://charts.example/stable", raw: "c-1.0.0.tgz", want: "https://charts.example/stable/c-1.0.0.tgz"},
		{name: "relative to a slash", base: "https://charts.example/stable/", raw: "c-1.0.0.tgz", want: "https://charts.example/stable/c-1.0.0.tgz"},
		{name: "relative subdirectory", base: "https://charts.example", raw: "charts/c.tgz", want: "https://charts.example/charts/c.tgz"},
		{name: "root-relative", base: "https://charts.example/stable", raw: "/other/c.tgz", want: "https://charts.example/other/c.tgz"},
		{name: "dot-dot stays on the host", base: "https://charts.example/a/b", raw: "../../../c.tgz", want: "https://charts.example/c.tgz"},
		{name: "scheme-relative", base: "https://charts.example/", raw: "//cdn.example/c.tgz", want: "https://cdn.example/c.tgz"},
		{name: "absolute", base: "https://charts.example/", raw: "http://cdn.example/c.tgz", want: "http://cdn.example/c.tgz"},
		{name: "credentials kept for the same host", base: "https://u:p@charts.example/", raw: "c.tgz", want: "https://u:p@charts.example/c.tgz"},
		{name: "file", base: "https://charts.example/", raw: "file:///etc/passwd", wantErr: `the index gives a "file" URL`},
		{name: "no host", base: "https://charts.example/", raw: "http:///c.tgz", wantErr: "without a host"},
		{name: "unparsable", base: "https://charts.example/", raw: "http://[::1", wantErr: "unparsable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := url.Parse(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			u, err := chartURL(base, tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("chartURL = %v, %v; want %s", u, err, tt.want)
			}
		})
	}
}
