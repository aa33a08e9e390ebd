package hubserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/hub/api"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/token"
	"flotilla.io/flotilla/internal/wire"
)

// startHubWith starts a hub on loopback with the long-poll and the limits
// set sets.
func startHubWith(t *testing.T, longPoll time.Duration, set func(*Limits)) *testHub {
	t.Helper()
	return startHubConfig(t, func(c *Config) {
		c.LongPoll = longPoll
		if set != nil {
			set(&c.Limits)
		}
	})
}

// enrolled is a cluster enrolled for real, with its key kept.
type enrolled struct {
	id     string
	agent  *hubclient.Agent
	cert   tls.Certificate
	cfg    hubclient.AgentConfig
	parsed token.Token
	resp   wire.EnrollResponse
}

func enrollKeep(t *testing.T, h *testHub, name string, labels map[string]string) enrolled {
	t.Helper()
	ctx := context.Background()
	tok, err := h.op.CreateToken(ctx, wire.TokenRequest{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := token.Parse(tok.Token)
	csr, key, _ := pki.NewCSR(name)
	resp, err := hubclient.Enroll(ctx, parsed, name, csr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := hubclient.AgentConfig{URL: h.srv.URL, CAPEM: resp.CA, CertPEM: resp.Certificate, KeyPEM: string(key)}
	a, err := hubclient.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.CloseIdleConnections)
	cert, err := tls.X509KeyPair([]byte(resp.Certificate), key)
	if err != nil {
		t.Fatal(err)
	}
	return enrolled{id: resp.ClusterID, agent: a, cert: cert, cfg: cfg, parsed: parsed, resp: resp}
}

// dialTLS opens one TLS connection to the hub (HTTP/1.1 only) and closes
// it when the test ends.
func dialTLS(t *testing.T, h *testHub, certs ...tls.Certificate) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(h.cfg.CA))
	c, err := tls.Dial("tcp", strings.TrimPrefix(h.srv.URL, "https://"), &tls.Config{RootCAs: pool, Certificates: certs, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one GET over c and reads the answer.
func get(t *testing.T, c net.Conn, path string) (*http.Response, string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hub\r\n\r\n", path); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// h2Client speaks HTTP/2 to the hub, with no client certificate unless
// given, on connections of its own.
func h2Client(h *testHub, certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(h.cfg.CA))
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}
	return &http.Client{Transport: tr}
}

var loopback = api.SourcePrefix(netip.MustParseAddr("127.0.0.1"))

// waitCounts polls the listener until ok holds for loopback's counts.
func waitCounts(t *testing.T, h *testHub, what string, ok func(addrConns, int) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, total := h.srv.ln.counts(loopback)
		if ok(a, total) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: counts %+v, %d unauthenticated in all", what, a, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUnauthenticatedConnectionCap(t *testing.T) {
	h := startHubWith(t, time.Second, func(l *Limits) { l.MaxUnauthConnsPerAddr = 4 })
	agent := enrollKeep(t, h, "edge", nil)
	// The operator client keeps one connection open; enrollment's closes.
	waitCounts(t, h, "only the operator's connection open", func(a addrConns, _ int) bool { return a.unauth == 1 })

	held := make([]*tls.Conn, 3)
	for i := range held {
		held[i] = dialTLS(t, h)
	}
	waitCounts(t, h, "four connections counted", func(a addrConns, _ int) bool { return a.unauth == 4 })

	t.Run("one more is answered 429 naming the limit, then closed", func(t *testing.T) {
		c := dialTLS(t, h)
		resp, body := get(t, c, "/healthz")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(body, "TooManyConnections") || !strings.Contains(body, "--max-unauth-conns-per-addr") {
			t.Fatalf("answer = %d %q (Retry-After %q), want 429 TooManyConnections naming the flag", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the refused connection stayed open")
		}
	})

	t.Run("over HTTP/2 too", func(t *testing.T) {
		resp, err := h2Client(h).Get(h.srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("HTTP/%d %d, want HTTP/2 429", resp.ProtoMajor, resp.StatusCode)
		}
	})

	t.Run("connections with a valid client certificate are not capped", func(t *testing.T) {
		for i := range 10 {
			c := dialTLS(t, h, agent.cert)
			if resp, body := get(t, c, "/healthz"); resp.StatusCode != http.StatusOK {
				t.Fatalf("agent connection %d = %d %s", i, resp.StatusCode, body)
			}
		}
		if err := agent.agent.Status(context.Background(), wire.StatusReport{}); err != nil {
			t.Errorf("agent status while the address is at its cap: %v", err)
		}
	})

	t.Run("a connection that closes frees its place", func(t *testing.T) {
		held[0].Close()
		waitCounts(t, h, "one connection released", func(a addrConns, _ int) bool { return a.unauth == 3 })
		if resp, _ := get(t, dialTLS(t, h), "/healthz"); resp.StatusCode != http.StatusOK {
			t.Errorf("after one closed: %d, want 200", resp.StatusCode)
		}
	})
}

func TestHandshakeLimits(t *testing.T) {
	h := startHubWith(t, time.Second, func(l *Limits) {
		l.MaxHandshakesPerAddr = 2
		l.HandshakeTimeout = 300 * time.Millisecond
	})
	addr := strings.TrimPrefix(h.srv.URL, "https://")
	silent := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	a, b := silent(), silent()
	waitCounts(t, h, "two handshakes in progress", func(c addrConns, _ int) bool { return c.handshaking == 2 })
	if third := silent(); !closedWithin(third, 10*time.Second) {
		t.Error("a third handshake from the address was not refused")
	}
	// Silent clients are dropped at the handshake deadline.
	if !closedWithin(a, 10*time.Second) || !closedWithin(b, 10*time.Second) {
		t.Error("silent connections outlived the handshake deadline")
	}
	waitCounts(t, h, "handshakes released", func(c addrConns, _ int) bool { return c == addrConns{} })
}

func TestEnrollRateLimit(t *testing.T) {
	tests := []struct {
		name    string
		exempt  bool
		refused bool
	}{
		{"limited past the burst", false, true},
		{"exempt prefix is not limited", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startHubWith(t, time.Second, func(l *Limits) {
				l.Requests.EnrollRate, l.Requests.EnrollBurst = 1, 2
				if tc.exempt {
					l.Requests.NoLimitFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
				}
			})
			ctx := context.Background()
			tok, err := h.op.CreateToken(ctx, wire.TokenRequest{})
			if err != nil {
				t.Fatal(err)
			}
			good, _ := token.Parse(tok.Token)
			bad := good
			bad.Secret = strings.Repeat("a", 32)
			csr, _, _ := pki.NewCSR("x")
			for range 2 { // the burst, spent on wrong secrets
				if _, err := hubclient.Enroll(ctx, bad, "", csr); statusOf(err) != http.StatusUnauthorized {
					t.Fatalf("enroll with a wrong secret = %v, want 401", err)
				}
			}
			_, err = hubclient.Enroll(ctx, good, "", csr)
			var he *hubclient.Error
			if !tc.refused {
				if err != nil {
					t.Fatalf("third enrollment = %v, want success", err)
				}
				return
			}
			if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.RetryAfter < time.Second ||
				!strings.Contains(he.Message, "--enroll-rate") || !strings.Contains(he.Message, "127.0.0.1/32") {
				t.Fatalf("third enrollment = %v, want 429 naming the address and --enroll-rate, with Retry-After", err)
			}
			h.clock.advance(he.RetryAfter)
			if _, err := hubclient.Enroll(ctx, good, "", csr); err != nil {
				t.Errorf("enrollment after waiting Retry-After = %v", err)
			}
		})
	}
}

func statusOf(err error) int {
	var he *hubclient.Error
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// A slow enrollment body ends with 408 at its deadline, on HTTP/1 and
// HTTP/2, and holds no slot meanwhile.
func TestUnauthenticatedBodyDeadline(t *testing.T) {
	h := startHubWith(t, time.Second, func(l *Limits) { l.Requests.UnauthBodyTimeout = 300 * time.Millisecond })
	for _, proto := range []int{1, 2} {
		t.Run(fmt.Sprintf("HTTP/%d", proto), func(t *testing.T) {
			c := h2Client(h)
			if proto == 1 {
				c = h.rawClient(t)
			}
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() { _, _ = pw.Write([]byte(`{"token":`)) }() // then nothing
			resp, err := c.Post(h.srv.URL+"/v1/enroll", "application/json", pr)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != proto || resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "300ms") {
				t.Errorf("HTTP/%d %d %s, want HTTP/%d 408 naming the deadline", resp.ProtoMajor, resp.StatusCode, body, proto)
			}
		})
	}
}

// TestAgentConnOutlivesItsAddressEntry: an agent's connection counts
// nothing of its address, so the address may be forgotten while it is
// open (another connection from there closed); closing it afterwards
// uncounts nothing. This panicked once, in the end-to-end tests.
func TestAgentConnOutlivesItsAddressEntry(t *testing.T) {
	l := &limitListener{lim: Limits{}.withDefaults(), perAddr: map[netip.Prefix]*addrConns{}}
	src := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 1}
	conn := func() *limitedConn {
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		lc := l.admit(addrConn{Conn: c, remote: src})
		if lc == nil {
			t.Fatal("connection refused")
		}
		return lc
	}
	agent, stranger := conn(), conn()
	if !l.classify(agent, true) || !l.classify(stranger, false) {
		t.Fatal("connections not admitted")
	}
	stranger.Close()
	agent.Close()
	if a, total := l.counts(api.SourcePrefix(netip.MustParseAddr("192.0.2.7"))); a != (addrConns{}) || total != 0 {
		t.Errorf("counts after both closed: %+v, %d unauthenticated", a, total)
	}
}

// addrConn is a connection with a remote address of the test's choosing.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }
