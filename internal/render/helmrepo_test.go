package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/egress"
)

// chartArchive builds a chart .tgz from files named under the chart's
// directory, as `helm package` lays them out.
func chartArchive(t *testing.T, name string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for p, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + p, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allowLoopback lets renders fetch from the test's chart servers, which
// listen on 127.0.0.1: refused without it.
var allowLoopback = egress.Policy{AllowHosts: []string{"127.0.0.1"}}

// chartRepo serves index.yaml and one chart archive on loopback and counts
// the requests for each.
type chartRepo struct {
	srv              *httptest.Server
	index, downloads atomic.Int32
}

func newChartRepo(t *testing.T, archive []byte, digest string) *chartRepo {
	t.Helper()
	r := &chartRepo{}
	mux := http.NewServeMux()
	mux.HandleFunc("/charts/index.yaml", func(w http.ResponseWriter, _ *http.Request) {
		r.index.Add(1)
		fmt.Fprintf(w, `apiVersion: v1
entries:
  demo:
  - apiVersion: v2
    name: demo
    version: 1.2.0
    digest: %s
    urls: [demo-1.2.0.tgz]
  - apiVersion: v2
    name: demo
    version: 1.1.0
    urls: [demo-1.1.0.tgz]
`, digest)
	})
	mux.HandleFunc("/charts/demo-1.2.0.tgz", func(w http.ResponseWriter, _ *http.Request) {
		r.downloads.Add(1)
		w.Write(archive)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func TestHelmRepoCachedByDigest(t *testing.T) {
	archive := chartArchive(t, "demo", map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: demo\nversion: 1.2.0\n",
		"values.yaml":           "greeting: hello\n",
		"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n",
	})
	sum := sha256.Sum256(archive)
	digest := hex.EncodeToString(sum[:])
	tests := []struct {
		name          string
		version       string
		wantIndex     int32 // index fetches after two renders
		wantDownloads int32
	}{
		{name: "exact version", version: "1.2.0", wantIndex: 1, wantDownloads: 1},
		{name: "constraint", version: "^1.1", wantIndex: 2, wantDownloads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newChartRepo(t, archive, digest)
			root := t.TempDir()
			writeFiles(t, root, map[string]string{"fleet.yaml": fmt.Sprintf(
				"helm:\n  repo: %s/charts\n  chart: demo\n  version: %q\n  releaseName: demo\n  values:\n    greeting: hi\n", repo.srv.URL, tt.version)})
			b := discoverOne(t, root)
			cache := t.TempDir()
			opts := Options{ChartCacheDir: cache, Egress: allowLoopback}
			for range 2 {
				objs, err := RenderEffective(context.Background(), root, b, Base(b), opts)
				if err != nil {
					t.Fatalf("RenderEffective: %v", err)
				}
				if len(objs) != 1 || objs[0].Object["data"].(map[string]any)["greeting"] != "hi" {
					t.Fatalf("rendered %v", objs)
				}
			}
			got := [2]int32{repo.index.Load(), repo.downloads.Load()}
			if diff := cmp.Diff([2]int32{tt.wantIndex, tt.wantDownloads}, got); diff != "" {
				t.Errorf("requests [index, archive] (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(cache, "sha256-"+digest+".tgz")); err != nil {
				t.Errorf("archive not cached by digest: %v", err)
			}
		})
	}
}

func TestHelmRepoDigestMismatch(t *testing.T) {
	archive := chartArchive(t, "demo", map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.2.0\n"})
	repo := newChartRepo(t, archive, strings.Repeat("0", 64))
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"fleet.yaml": "helm:\n  repo: " + repo.srv.URL + "/charts\n  chart: demo\n  version: 1.2.0\n"})
	b := discoverOne(t, root)
	_, err := RenderEffective(context.Background(), root, b, Base(b), Options{ChartCacheDir: t.TempDir(), Egress: allowLoopback})
	if err == nil || !strings.Contains(err.Error(), "does not match the index") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
}

// TestHelmRepoEgress renders remote charts under the egress policy: a
// loopback repository is refused unless allowed, and one that never
// answers fails the bundle within the (shortened) time limit.
func TestHelmRepoEgress(t *testing.T) {
	archive := chartArchive(t, "demo", map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: demo\nversion: 1.2.0\n",
		"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
	})
	sum := sha256.Sum256(archive)
	repo := newChartRepo(t, archive, hex.EncodeToString(sum[:]))
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { <-hold; c.Close() }()
		}
	}()
	tests := []struct {
		name    string
		repo    string
		opts    Options
		wantErr string
	}{
		{name: "loopback refused by default", repo: repo.srv.URL + "/charts",
			wantErr: `fleet.yaml: helm.repo "` + repo.srv.URL + `/charts": 127.0.0.1 is a loopback address; the hub fetches charts only from public addresses unless allowed with --allow-chart-host`},
		{name: "loopback allowed", repo: repo.srv.URL + "/charts", opts: Options{Egress: allowLoopback}},
		{name: "repository never answers", repo: "http://" + silent.Addr().String() + "/charts",
			opts:    Options{Egress: egress.Policy{AllowHosts: []string{"127.0.0.1"}, ResponseHeaderTimeout: 200 * time.Millisecond}},
			wantErr: "timed out waiting for response headers from " + silent.Addr().String() + " (limit 200ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{"fleet.yaml": "helm:\n  repo: " + tt.repo + "\n  chart: demo\n  version: 1.2.0\n"})
			b := discoverOne(t, root)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			objs, err := RenderEffective(ctx, root, b, Base(b), tt.opts)
			if ctx.Err() != nil {
				t.Fatal("the render outlived the test's liveness deadline")
			}
			if tt.wantErr == "" {
				if err != nil || len(objs) != 1 {
					t.Fatalf("RenderEffective = %d objects, %v", len(objs), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func discoverOne(t *testing.T, root string) bundle.Bundle {
	t.Helper()
	bundles, err := bundle.Discover(root, nil)
	if err != nil || len(bundles) != 1 {
		t.Fatalf("Discover: %v, %d bundles", err, len(bundles))
	}
	return bundles[0]
}

// TestHelmVendoredArchive renders a chart whose dependency is vendored as
// an archive under charts/, as `helm dependency build` leaves it.
func TestHelmVendoredArchive(t *testing.T) {
	dep := chartArchive(t, "dep", map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: dep\nversion: 0.1.0\n",
		"values.yaml":       "size: small\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dep\ndata:\n  size: {{ .Values.size }}\n",
	})
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"app/fleet.yaml":            "helm:\n  values:\n    dep: {size: large}\n",
		"app/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: dep\n  version: 0.1.0\n  repository: https://charts.example.com\n",
		"app/charts/dep-0.1.0.tgz":  string(dep),
		"app/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
	})
	b := discoverOne(t, root)
	eff, _, err := Resolve(b, Target{})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := RenderEffective(context.Background(), root, b, eff, Options{})
	if err != nil {
		t.Fatalf("RenderEffective: %v", err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, describe(o)+" "+fmt.Sprint(o.Object["data"]))
	}
	want := []string{"ConfigMap default/app <nil>", "ConfigMap default/dep map[size:large]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}
