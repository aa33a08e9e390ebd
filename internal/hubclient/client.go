// Package hubclient is the typed client of the hub's HTTP API: the agent
// protocol over mTLS (enrollment pins the hub by the CA hash in the
// bootstrap token) and the operator API with a bearer token.
package hubclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// maxResponse bounds what the client reads from the hub in one response.
const maxResponse = 256 << 20

// Error is an error answer from the hub.
type Error struct {
	Status  int
	Reason  string
	Message string
	// RetryAfter is the wait the hub asked for (429, 503 or 409 with
	// Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("hub answered %d", e.Status)
	}
	return fmt.Sprintf("hub answered %d %s: %s", e.Status, e.Reason, e.Message)
}

// client does JSON requests against one hub.
type client struct {
	base  string
	http  *http.Client
	auth  string // Authorization header value, if any
	agent bool   // send the protocol header
	// now reads the clock for Retry-After dates; time.Now when nil.
	now func() time.Time
}

func newTransport(tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     tlsConfig,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 2,
		// A black-holed link leaves a connection that looks open: a ping
		// after 40 s without a frame finds it dead in ~50 s instead of at
		// the end of a 90 s long-poll. Not sooner: a healthy connection
		// holding a 60 s long-poll then pings once per poll, and each
		// ping costs ~90 bytes of an idle budget of 200 per minute.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 40 * time.Second, PingTimeout: 10 * time.Second},
	}
}

// do sends in (JSON, or no body when nil) and decodes the answer into out
// (when non-nil). It returns the status code; 304 is not an error.
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
		if c.agent {
			b, encoding = wire.CompressRequest(b)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	r := io.LimitReader(resp.Body, maxResponse)
	switch {
	case resp.StatusCode == http.StatusNotModified || resp.StatusCode == http.StatusNoContent:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300:
		return resp.StatusCode, c.errorFrom(resp)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(r).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("decoding answer to %s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// newRequest builds a request to path on the hub with what every request
// of this client carries: its credentials and, from an agent, the
// protocol version.
func (c *client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.base, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.agent {
		req.Header.Set(wire.ProtocolHeader, fmt.Sprint(wire.ProtocolVersion))
	}
	return req, nil
}

// maxErrorBody bounds what the client reads of an error answer.
const maxErrorBody = 64 << 10

// errorFrom is the hub's error answer resp (status 300 or more) as an
// *Error, with the wait it asked for.
func (c *client) errorFrom(resp *http.Response) *Error {
	he := &Error{Status: resp.StatusCode}
	switch resp.StatusCode {
	// A 409 with Retry-After is a long-poll that another took over: the
	// hub asks the loser to wait, so that two devices with one identity
	// do not take it from each other in a tight loop.
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusConflict:
		now := time.Now
		if c.now != nil {
			now = c.now
		}
		he.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now())
	}
	var we wire.Error
	if json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&we) == nil {
		he.Reason, he.Message = we.Reason, we.Message
	}
	return he
}

// caPool parses a PEM CA bundle.
func caPool(caPEM string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("no CA certificate in PEM")
	}
	return pool, nil
}
