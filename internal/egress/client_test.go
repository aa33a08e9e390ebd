package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// liveness bounds every test request: a limit that does not work fails
// the test instead of hanging it.
const liveness = 30 * time.Second

func get(t *testing.T, p Policy, url string, limit int64) ([]byte, error) {
	t.Helper()
	return getWithRoots(t, p, nil, url, limit)
}

func getWithRoots(t *testing.T, p Policy, roots *x509.CertPool, url string, limit int64) ([]byte, error) {
	t.Helper()
	c, err := newClient(p, roots)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	data, err := c.Get(ctx, url, limit)
	if ctx.Err() != nil {
		t.Fatalf("Get still running after %s: a time limit did not hold", liveness)
	}
	return data, err
}

func hello(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") }

func TestGetAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name  string
		allow []string
		url   string
	}{
		{name: "by address", allow: []string{"127.0.0.1"}, url: srv.URL},
		{name: "by prefix", allow: []string{"127.0.0.0/8"}, url: srv.URL},
		{name: "by name", allow: []string{"localhost"}, url: fmt.Sprintf("http://localhost:%d/", port)},
		{name: "name by the address it resolves to", allow: []string{"127.0.0.1"}, url: fmt.Sprintf("http://localhost:%d/", port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := get(t, Policy{AllowHosts: tt.allow}, tt.url, 100)
			if err != nil || string(data) != "hello" {
				t.Fatalf("Get = %q, %v", data, err)
			}
		})
	}
}

func TestGetRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name    string
		allow   []string
		url     string
		wantErr string
	}{
		{name: "loopback by default", url: srv.URL,
			wantErr: "127.0.0.1 is a loopback address; the hub fetches charts only from public addresses unless allowed with --allow-chart-host"},
		{name: "localhost name", url: fmt.Sprintf("http://localhost:%d/", port), wantErr: "localhost (127.0.0.1) is a loopback address"},
		{name: "ipv4-mapped literal", url: fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port), wantErr: "is a loopback address"},
		{name: "another name allowed", allow: []string{"charts.example", "10.0.0.0/8"}, url: srv.URL, wantErr: "is a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := get(t, Policy{AllowHosts: tt.allow}, tt.url, 100)
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestRefusedNeverDialled checks that a refused address gets no
// connection at all, not a connection closed early: after the refusal a
// marker connection is the first the listener's queue holds.
func TestRefusedNeverDialled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := get(t, Policy{}, "http://"+ln.Addr().String()+"/", 100); err == nil {
		t.Fatal("loopback fetched")
	}
	marker, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if first.RemoteAddr().String() != marker.LocalAddr().String() {
		t.Fatalf("the listener got a connection from %s before the marker", first.RemoteAddr())
	}
}

func TestGetRedirects(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(hello))
	defer target.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/to-refused", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/secret", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/hello", http.StatusFound)
	})
	mux.HandleFunc("/hello", hello)
	front := httptest.NewServer(mux)
	defer front.Close()
	// The front server is allowed by name, its redirect target (the same
	// address, under another name) is not.
	port := front.Listener.Addr().(*net.TCPAddr).Port
	frontURL := fmt.Sprintf("http://localhost:%d", port)
	tlsFront := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/", http.StatusFound)
	}))
	defer tlsFront.Close()
	roots := x509.NewCertPool()
	roots.AddCert(tlsFront.Certificate())
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{name: "https to http", url: tlsFront.URL + "/", wantErr: "redirect from https to http refused"},
		{name: "followed", url: frontURL + "/ok"},
		{name: "to a refused host", url: frontURL + "/to-refused",
			wantErr: "redirected to " + target.URL + "/secret: 127.0.0.1 is a loopback address"},
		{name: "loop", url: frontURL + "/loop", wantErr: "stopped after 2 redirects"},
		{name: "to file", url: frontURL + "/to-file", wantErr: "redirect refused: only http and https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow := []string{"localhost"}
			if strings.HasPrefix(tt.url, "https:") {
				allow = []string{"127.0.0.1"}
			}
			data, err := getWithRoots(t, Policy{AllowHosts: allow, MaxRedirects: 2}, roots, tt.url, 100)
			if tt.wantErr == "" {
				if err != nil || string(data) != "hello" {
					t.Fatalf("Get = %q, %v", data, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestGetTimeouts(t *testing.T) {
	// silent accepts connections and never says a word.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	// trickle answers at once, then sends its body one byte at a time
	// until the client goes away.
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer trickle.Close()
	short := 200 * time.Millisecond
	allow := []string{"127.0.0.1"}
	tests := []struct {
		name    string
		policy  Policy
		url     string
		wantErr string
	}{
		{name: "no response headers", url: "http://" + silent.Addr().String() + "/index.yaml",
			policy:  Policy{AllowHosts: allow, ResponseHeaderTimeout: short},
			wantErr: "timed out waiting for response headers from " + silent.Addr().String() + " (limit 200ms)"},
		{name: "no TLS handshake", url: "https://" + silent.Addr().String() + "/index.yaml",
			policy:  Policy{AllowHosts: allow, TLSHandshakeTimeout: short},
			wantErr: "timed out in the TLS handshake with " + silent.Addr().String() + " (limit 200ms)"},
		{name: "body never ends", url: trickle.URL,
			policy:  Policy{AllowHosts: allow, Timeout: short},
			wantErr: "timed out on the whole request (limit 200ms; raise with --chart-fetch-timeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := get(t, tt.policy, tt.url, 10<<20)
			var te *TimeoutError
			if !errors.As(err, &te) || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestGetLimitsAndStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/declared", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "101")
		w.Write(make([]byte, 101))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		for range 3 {
			w.Write(make([]byte, 40))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/exact", func(w http.ResponseWriter, _ *http.Request) { w.Write(make([]byte, 100)) })
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{name: "declared too large", url: srv.URL + "/declared", wantErr: ErrTooLarge.Error()},
		{name: "chunked too large", url: srv.URL + "/chunked", wantErr: ErrTooLarge.Error()},
		{name: "exactly the limit", url: srv.URL + "/exact"},
		{name: "status", url: srv.URL + "/teapot", wantErr: "status 418 I'm a teapot"},
		{name: "file scheme", url: "file:///etc/passwd", wantErr: `only http and https URLs are fetched, not "file"`},
		{name: "no host", url: "http:///index.yaml", wantErr: "URL has no host"},
		{name: "bad port", url: "http://127.0.0.1:99999/", wantErr: `port "99999" is not a TCP port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := get(t, Policy{AllowHosts: []string{"127.0.0.1"}}, tt.url, 100)
			if tt.wantErr == "" {
				if err != nil || len(data) != 100 {
					t.Fatalf("Get = %d bytes, %v", len(data), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNoProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy.invalid:3128")
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	c, err := New(Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.transport.Proxy != nil {
		t.Fatal("the client takes a proxy from the environment")
	}
}

func TestNewRefusesBadPattern(t *testing.T) {
	if _, err := New(Policy{AllowHosts: []string{"http://x"}}); err == nil || !strings.Contains(err.Error(), "--allow-chart-host") {
		t.Fatalf("err = %v", err)
	}
	if err := (Policy{AllowHosts: []string{"*.ok.example", "10.0.0.0/8"}}).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
