package hubserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/token"
	"flotilla.io/flotilla/internal/wire"
)

type testHub struct {
	srv   *Server
	cfg   clientconfig.Config
	op    *hubclient.Operator
	dir   string
	clock *clock
}

// clock is a settable clock for token expiry.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func startHub(t *testing.T) *testHub {
	t.Helper()
	return startHubConfig(t, nil)
}

// startHubConfig starts a hub on loopback with the configuration edit
// changes (nil for none).
func startHubConfig(t *testing.T, edit func(*Config)) *testHub {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	clk := &clock{now: time.Now()}
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", LongPoll: 500 * time.Millisecond, Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := srv.Close(); err != nil {
			t.Errorf("closing hub: %v", err)
		}
	})
	cc, err := clientconfig.Load(srv.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	op, err := hubclient.NewOperator(cc)
	if err != nil {
		t.Fatal(err)
	}
	return &testHub{srv: srv, cfg: cc, op: op, dir: dir, clock: clk}
}

func TestDataDirIsCreatedOnce(t *testing.T) {
	h := startHub(t)
	for _, f := range []string{dbFile, caCertFile, caKeyFile, serverCert, serverKey, signingFile, adminFile} {
		fi, err := os.Stat(filepath.Join(h.dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == adminFile && fi.Mode().Perm() != 0o600 {
			t.Errorf("admin.yaml mode %v, want 0600", fi.Mode().Perm())
		}
	}
	before, _ := os.ReadFile(filepath.Join(h.dir, caCertFile))
	beforeKey, _ := os.ReadFile(filepath.Join(h.dir, signingFile))

	// A second start keeps the CA, the signing key and the admin token.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2, err := Start(ctx, Config{DataDir: h.dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	after, _ := os.ReadFile(filepath.Join(h.dir, caCertFile))
	afterKey, _ := os.ReadFile(filepath.Join(h.dir, signingFile))
	cfg2, err := clientconfig.Load(srv2.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || !bytes.Equal(beforeKey, afterKey) || cfg2.Token != h.cfg.Token {
		t.Error("restart replaced the CA, signing key or admin token")
	}
	if cfg2.Hub != srv2.URL {
		t.Errorf("admin.yaml hub = %s, want the new URL %s", cfg2.Hub, srv2.URL)
	}
	h.srv = srv2 // the cleanup closes this one; closing twice is harmless
}

func TestEnrollment(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	good, err := h.op.CreateToken(ctx, wire.TokenRequest{Labels: map[string]string{"env": "dev"}, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	short, err := h.op.CreateToken(ctx, wire.TokenRequest{TTL: wire.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := token.Parse(good.Token)
	forged.Secret = strings.Repeat("a", 32)
	otherHub := forged
	otherHub.CAHash = "sha256:" + strings.Repeat("0", 64)

	csr, _, err := pki.NewCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	enroll := func(tok, name string) (wire.EnrollResponse, error) {
		parsed, err := token.Parse(tok)
		if err != nil {
			return wire.EnrollResponse{}, err
		}
		return hubclient.Enroll(ctx, parsed, name, csr)
	}

	resp, err := enroll(good.Token, "edge-1")
	if err != nil {
		t.Fatalf("enrolling with a good token: %v", err)
	}
	if resp.Name != "edge-1" || resp.Labels["env"] != "dev" || resp.SigningKey == "" {
		t.Errorf("enroll response = %+v", resp)
	}

	h.clock.advance(2 * time.Hour)
	tests := []struct {
		name, tok, want string
		status          int
	}{
		{"used up", good.Token, "no uses left", http.StatusUnauthorized},
		{"expired", short.Token, "expired", http.StatusUnauthorized},
		{"wrong secret", forged.String(), "not valid", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := enroll(tc.tok, "edge-2")
			var he *hubclient.Error
			if !errors.As(err, &he) || he.Status != tc.status || !strings.Contains(he.Message, tc.want) {
				t.Fatalf("enroll = %v, want %d containing %q", err, tc.status, tc.want)
			}
		})
	}
	t.Run("token for another hub is refused before it is sent", func(t *testing.T) {
		_, err := enroll(otherHub.String(), "edge-3")
		if err == nil || !strings.Contains(err.Error(), "pins") {
			t.Fatalf("enroll = %v, want a pinning error", err)
		}
	})

	clusters, err := h.op.Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters) != 1 || clusters[0].Name != "edge-1" || clusters[0].DesiredGeneration != 1 || clusters[0].State != wire.StatePending {
		t.Errorf("clusters = %+v, want edge-1 Pending at generation 1", clusters)
	}
}

// rawClient talks to the hub with the CA trusted and optional client certs.
func (h *testHub) rawClient(t *testing.T, certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(h.cfg.CA))
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
}

func TestRefusals(t *testing.T) {
	h := startHub(t)
	c := h.rawClient(t)
	// Valid JSON as far as it goes, so only its size can refuse it.
	big := append([]byte(`{"token":"`), bytes.Repeat([]byte("x"), 2<<20)...)
	tests := []struct {
		name, method, path, auth string
		body                     []byte
		want                     int
	}{
		{"manifest without client certificate", "GET", "/v1/agent/manifest", "", nil, http.StatusUnauthorized},
		{"status without client certificate", "POST", "/v1/agent/status", "", []byte("{}"), http.StatusUnauthorized},
		{"operator without token", "GET", "/v1/clusters", "", nil, http.StatusUnauthorized},
		{"operator with wrong token", "GET", "/v1/clusters", "Bearer nope", nil, http.StatusUnauthorized},
		{"oversized enrollment", "POST", "/v1/enroll", "", big, http.StatusRequestEntityTooLarge},
		{"oversized source", "POST", "/v1/sources", "Bearer " + h.cfg.Token, big, http.StatusRequestEntityTooLarge},
		{"garbage enrollment", "POST", "/v1/enroll", "", []byte("{not json"), http.StatusBadRequest},
		{"unknown field", "POST", "/v1/tokens", "Bearer " + h.cfg.Token, []byte(`{"labels":{},"admin":true}`), http.StatusBadRequest},
		{"bad label", "POST", "/v1/tokens", "Bearer " + h.cfg.Token, []byte(`{"labels":{"env":"not valid!"}}`), http.StatusBadRequest},
		{"bad selector", "POST", "/v1/sources", "Bearer " + h.cfg.Token, []byte(`{"name":"s","repo":"file:///x","targets":["env in (dev"]}`), http.StatusBadRequest},
		{"source path escapes", "POST", "/v1/sources", "Bearer " + h.cfg.Token, []byte(`{"name":"s","repo":"file:///x","paths":["../etc"]}`), http.StatusBadRequest},
		{"delete missing source", "DELETE", "/v1/sources/nope", "Bearer " + h.cfg.Token, nil, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, h.srv.URL+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			}
		})
	}
}

func TestLongPollAndObjects(t *testing.T) {
	h := startHub(t)
	ctx := context.Background()
	tok, err := h.op.CreateToken(ctx, wire.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := token.Parse(tok.Token)
	csr, key, _ := pki.NewCSR("x")
	resp, err := hubclient.Enroll(ctx, parsed, "", csr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Name, "cluster-") {
		t.Errorf("generated name %q", resp.Name)
	}
	agent, err := hubclient.NewAgent(hubclient.AgentConfig{URL: h.srv.URL, CAPEM: resp.CA, CertPEM: resp.Certificate, KeyPEM: string(key)})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := agent.Manifest(ctx, 0, "")
	if err != nil || sm == nil {
		t.Fatalf("first manifest = %v, %v", sm, err)
	}
	start := time.Now()
	again, err := agent.Manifest(ctx, 1, "")
	if err != nil || again != nil {
		t.Fatalf("poll with nothing new = %v, %v; want 304", again, err)
	}
	if time.Since(start) < 400*time.Millisecond {
		t.Errorf("long-poll returned after %v, before its hold time", time.Since(start))
	}
	if _, err := agent.Objects(ctx, []string{wire.Hash([]byte("not in my manifest"))}); err == nil {
		t.Error("fetched an object outside the cluster's manifest")
	}
	if err := agent.Status(ctx, wire.StatusReport{Bundles: []wire.BundleStatus{{Name: "b", State: "Bogus"}}}); err == nil {
		t.Error("status with an unknown state accepted")
	}
}

// TestBadChartHostTouchesNothing: a hub refused for a mistyped
// --allow-chart-host writes nothing into its data directory.
func TestBadChartHostTouchesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0"}
	cfg.Render.Egress.AllowHosts = []string{"http://x/"}
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--allow-chart-host") {
		t.Fatalf("Start = %v, want the pattern refused", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory created for a refused start (%v)", err)
	}
}
