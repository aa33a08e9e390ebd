package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// maxResponse bounds one answer from the hub, as hubclient does.
const maxResponse = 256 << 20

// client speaks the agent protocol exactly as internal/hubclient.Agent does
// (same routes, headers, JSON bodies, HTTP/2 over mTLS, gzip negotiated by
// net/http), with one addition the sim needs and hubclient does not offer:
// its TLS connections run over a counting net.Conn, and going offline can
// close them.
type client struct {
	base string
	http *http.Client
	tr   *http.Transport
	bw   *byteCounter
}

// byteCounter counts wire bytes (TLS records included) of one agent and
// remembers its open connections so that a link fault can cut them.
type byteCounter struct {
	read, written atomic.Int64

	mu    sync.Mutex // guards conns
	conns map[*countingConn]struct{}
}

func (b *byteCounter) total() int64 { return b.read.Load() + b.written.Load() }

// cut closes every open connection, as a link that drops does.
func (b *byteCounter) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		_ = c.Conn.Close()
	}
	clear(b.conns)
}

type countingConn struct {
	net.Conn
	b *byteCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.b.written.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.b.mu.Lock()
	delete(c.b.conns, c)
	c.b.mu.Unlock()
	return c.Conn.Close()
}

// agentTLS is what an enrolled agent authenticates with.
type agentTLS struct {
	URL, CAPEM, CertPEM, KeyPEM string
}

func newClient(cfg agentTLS) (*client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cfg.CAPEM)) {
		return nil, errors.New("loading hub CA: no certificate in PEM")
	}
	cert, err := tls.X509KeyPair([]byte(cfg.CertPEM), []byte(cfg.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("loading client certificate: %w", err)
	}
	bc := &byteCounter{conns: map[*countingConn]struct{}{}}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}},
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 2,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc := &countingConn{Conn: c, b: bc}
			bc.mu.Lock()
			bc.conns[cc] = struct{}{}
			bc.mu.Unlock()
			return cc, nil
		},
	}
	return &client{base: cfg.URL, http: &http.Client{Transport: tr}, tr: tr, bw: bc}, nil
}

// hubError is an error answer; retryAfter is the wait the hub asked for.
type hubError struct {
	status     int
	reason     string
	retryAfter time.Duration
}

func (e *hubError) Error() string { return fmt.Sprintf("hub answered %d %s", e.status, e.reason) }

func (c *client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var (
		body     io.Reader
		encoding string
	)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("encoding request: %w", err)
		}
		b, encoding = wire.CompressRequest(b)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	req.Header.Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	r := io.LimitReader(resp.Body, maxResponse)
	switch {
	case resp.StatusCode == http.StatusNotModified || resp.StatusCode == http.StatusNoContent:
		_, _ = io.Copy(io.Discard, r)
		return resp.StatusCode, nil
	case resp.StatusCode >= 300:
		he := &hubError{status: resp.StatusCode}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			he.retryAfter = time.Duration(s) * time.Second
		}
		var we wire.Error
		if json.NewDecoder(r).Decode(&we) == nil {
			he.reason = we.Reason
		}
		return resp.StatusCode, he
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, r)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(r).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("decoding answer to %s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// manifest long-polls; nil without error means the poll ended unchanged.
func (c *client) manifest(ctx context.Context, have int64, base string) (*wire.SignedManifest, error) {
	var sm wire.SignedManifest
	path := fmt.Sprintf("/v1/agent/manifest?have=%d", have)
	if base != "" {
		path += "&base=" + base
	}
	code, err := c.do(ctx, http.MethodGet, path, nil, &sm)
	if err != nil || code == http.StatusNotModified {
		return nil, err
	}
	return &sm, nil
}

func (c *client) objects(ctx context.Context, hashes []string) (map[string][]byte, error) {
	var resp wire.ObjectsResponse
	if _, err := c.do(ctx, http.MethodPost, "/v1/agent/objects", wire.ObjectsRequest{Hashes: hashes}, &resp); err != nil {
		return nil, err
	}
	return resp.Bytes(), nil
}

func (c *client) status(ctx context.Context, r wire.StatusReport) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/agent/status", r, nil)
	return err
}

// offline drops the agent's connections, as a link that goes down does.
func (c *client) offline() {
	c.tr.CloseIdleConnections()
	c.bw.cut()
}
