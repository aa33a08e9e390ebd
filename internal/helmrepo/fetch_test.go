package helmrepo

import (
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

	"flotilla.io/flotilla/internal/egress"
)

// loopback is the allow pattern every test server on 127.0.0.1 needs.
var loopback = egress.Policy{AllowHosts: []string{"127.0.0.1"}}

func TestFetch(t *testing.T) {
	archive := []byte("not really a tgz, Fetch does not open it")
	sum := sha256.Sum256(archive)
	digest := hex.EncodeToString(sum[:])
	var downloads atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/index.yaml", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "apiVersion: v1\nentries:\n  c:\n  - {name: c, version: 1.0.0, digest: %s, urls: [c-1.0.0.tgz]}\n", digest)
	})
	mux.HandleFunc("/c-1.0.0.tgz", func(w http.ResponseWriter, _ *http.Request) {
		downloads.Add(1)
		w.Write(archive)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cache := t.TempDir()
	opts := Options{CacheDir: cache, Egress: loopback}
	chart := Chart{Repo: srv.URL, Name: "c", Version: "1.0.0"}
	fetch := func() {
		t.Helper()
		got, err := Fetch(context.Background(), chart, opts)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(archive) {
			t.Fatalf("got %q", got)
		}
	}
	fetch()
	fetch()
	if n := downloads.Load(); n != 1 {
		t.Fatalf("downloads = %d after two fetches, want 1", n)
	}
	// A damaged cache entry is fetched again, not served.
	if err := os.WriteFile(filepath.Join(cache, "sha256-"+digest+".tgz"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	fetch()
	if n := downloads.Load(); n != 2 {
		t.Fatalf("downloads = %d after a damaged cache, want 2", n)
	}
}

// repoServer serves an index and whatever archives it is given.
func repoServer(t *testing.T, index string, files map[string]string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/index.yaml", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, index) })
	for name, content := range files {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, content) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// silentServer accepts connections and never answers, as the chart
// repository that once held an enrollment for 60 s.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestFetchErrors(t *testing.T) {
	big := "apiVersion: v1\n# " + strings.Repeat("x", 2000) + "\nentries: {}\n"
	srv := repoServer(t, big, nil)
	charts := repoServer(t, `apiVersion: v1
entries:
  c:
  - {name: c, version: 1.0.0, urls: [c-1.0.0.tgz]}
  - {name: c, version: 2.0.0, urls: ["http://169.254.169.254/latest/c.tgz"]}
  - {name: c, version: 3.0.0, urls: ["ftp://charts.example/c.tgz"]}
`, map[string]string{"c-1.0.0.tgz": strings.Repeat("y", 2000)})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	silent := silentServer(t)
	short := egress.Policy{AllowHosts: []string{"127.0.0.1"}, ResponseHeaderTimeout: 200 * time.Millisecond}
	small := Limits{MaxIndexBytes: 1024, MaxChartBytes: 1024}
	tests := []struct {
		name    string
		chart   Chart
		opts    Options
		wantErr string
		notErr  string
	}{
		{name: "not http", chart: Chart{Repo: "oci://r.example/c", Name: "c"}, wantErr: "only http and https"},
		{name: "loopback refused by default", chart: Chart{Repo: srv.URL + "/", Name: "c"},
			wantErr: fmt.Sprintf(`helm.repo "http://127.0.0.1:%d/": 127.0.0.1 is a loopback address; the hub fetches charts only from public addresses unless allowed with --allow-chart-host`, port)},
		{name: "localhost refused", chart: Chart{Repo: fmt.Sprintf("http://localhost:%d/", port), Name: "c"},
			wantErr: "localhost (127.0.0.1) is a loopback address"},
		{name: "metadata address refused", chart: Chart{Repo: "http://169.254.169.254/", Name: "c"},
			wantErr: "169.254.169.254 is a link-local address"},
		{name: "credentials redacted", chart: Chart{Repo: "http://user:s3cret@127.0.0.1:1/", Name: "c", Version: "1.0.0"},
			wantErr: `helm.repo "http://127.0.0.1:1/"`, notErr: "s3cret"},
		{name: "token as user name redacted", chart: Chart{Repo: "http://ghp_token@127.0.0.1:1/", Name: "c"},
			wantErr: "loopback", notErr: "ghp_token"},
		{name: "repository never answers", chart: Chart{Repo: silent, Name: "c"}, opts: Options{Egress: short},
			wantErr: "timed out waiting for response headers from 127.0.0.1:"},
		{name: "index too large", chart: Chart{Repo: srv.URL, Name: "c"}, opts: Options{Egress: loopback, Limits: small},
			wantErr: "index.yaml is larger than 1Ki, the hub's limit (raise with --max-chart-index-bytes)"},
		{name: "archive too large", chart: Chart{Repo: charts.URL, Name: "c", Version: "1.0.0"}, opts: Options{Egress: loopback, Limits: small},
			wantErr: "chart c-1.0.0 from \"" + charts.URL + "/c-1.0.0.tgz\": the archive is larger than 1Ki, the hub's limit (raise with --max-chart-bytes)"},
		{name: "chart URL at an internal address", chart: Chart{Repo: charts.URL, Name: "c", Version: "2.0.0"}, opts: Options{Egress: loopback},
			wantErr: `chart c-2.0.0 from "http://169.254.169.254/latest/c.tgz": 169.254.169.254 is a link-local address`},
		{name: "chart URL not http", chart: Chart{Repo: charts.URL, Name: "c", Version: "3.0.0"}, opts: Options{Egress: loopback},
			wantErr: `the index gives a "ftp" URL`},
		{name: "version not in index", chart: Chart{Repo: charts.URL, Name: "c", Version: "^9"}, opts: Options{Egress: loopback},
			wantErr: `no version of chart "c" matches "^9"`},
		{name: "chart not in index", chart: Chart{Repo: charts.URL, Name: "d"}, opts: Options{Egress: loopback},
			wantErr: `the index has no chart "d"`},
		{name: "bad allow pattern", chart: Chart{Repo: charts.URL, Name: "c"}, opts: Options{Egress: egress.Policy{AllowHosts: []string{"http://x"}}},
			wantErr: `--allow-chart-host "http://x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := Fetch(ctx, tt.chart, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.notErr != "" && strings.Contains(err.Error(), tt.notErr) {
				t.Errorf("err %q leaks %q", err, tt.notErr)
			}
		})
	}
}
