package helmrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

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
	opts := Options{CacheDir: cache, Client: srv.Client()}
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

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name    string
		chart   Chart
		wantErr string
		notErr  string
	}{
		{name: "not http", chart: Chart{Repo: "oci://r.example/c", Name: "c"}, wantErr: "only http and https"},
		{name: "credentials redacted", chart: Chart{Repo: "http://user:s3cret@127.0.0.1:1/", Name: "c", Version: "1.0.0"}, wantErr: "fetching index", notErr: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Fetch(context.Background(), tt.chart, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.notErr != "" && strings.Contains(err.Error(), tt.notErr) {
				t.Errorf("err %q leaks %q", err, tt.notErr)
			}
		})
	}
}
