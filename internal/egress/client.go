package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
)

// Client makes a render's requests under a Policy. Make one per unit of
// work (a chart fetch) and Close it after: it keeps no state between
// renders.
type Client struct {
	policy    Policy
	transport *http.Transport
	http      *http.Client
}

// New builds a client for a policy; the error names a bad allow pattern.
func New(p Policy) (*Client, error) {
	return newClient(p, nil)
}

// newClient takes the roots that verify servers; nil means the system's.
func newClient(p Policy, roots *x509.CertPool) (*Client, error) {
	allow, err := ParseAllowlist(p.AllowHosts)
	if err != nil {
		return nil, err
	}
	p = p.withDefaults()
	d := &dialer{allow: allow, timeout: p.DialTimeout}
	t := &http.Transport{
		// The environment's HTTP(S)_PROXY is not used: a proxy would
		// resolve and connect on the hub's behalf, out of reach of the
		// dialer's address check (see the package comment).
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:    p.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  p.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		MaxIdleConnsPerHost:    2,
	}
	c := &Client{policy: p, transport: t}
	c.http = &http.Client{Transport: t, CheckRedirect: c.checkRedirect}
	return c, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Get fetches a URL's body, at most limit bytes (ErrTooLarge beyond).
// Errors do not repeat the URL asked for (the caller names it, redacted)
// but name any redirect that led elsewhere; a refused address is a
// *RefusedError and a time limit a *TimeoutError.
func (c *Client) Get(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	st := &requestState{}
	reqCtx, cancel := context.WithTimeout(ctx, c.policy.Timeout)
	defer cancel()
	reqCtx = httptrace.WithClientTrace(context.WithValue(reqCtx, stateKey{}, st), st.trace())
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errors.New("not a usable URL")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.explain(ctx, reqCtx, st, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The server's own reason phrase is not repeated: it is theirs.
		return nil, st.redirected(fmt.Errorf("status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	if resp.ContentLength > limit {
		return nil, st.redirected(ErrTooLarge)
	}
	st.set(phaseBody, "")
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, c.explain(ctx, reqCtx, st, err)
	}
	if int64(len(data)) > limit {
		return nil, st.redirected(ErrTooLarge)
	}
	return data, nil
}

// checkURL accepts what the client may request: http or https with a host.
func checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("only http and https URLs are fetched, not %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a TCP port", p)
		}
	}
	return nil
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.policy.MaxRedirects {
		return &RedirectError{Reason: fmt.Sprintf("stopped after %d redirects", c.policy.MaxRedirects)}
	}
	if err := checkURL(req.URL); err != nil {
		return &RedirectError{Reason: "redirect refused: " + err.Error()}
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme == "http" {
		return &RedirectError{Reason: "redirect from https to http refused"}
	}
	if st, ok := req.Context().Value(stateKey{}).(*requestState); ok {
		st.redirect(req.URL)
	}
	return nil
}

// explain turns a failed request into an error that says what happened
// in the policy's terms: refused, timed out (and which limit), or the
// transport's own message without the URL.
func (c *Client) explain(ctx, reqCtx context.Context, st *requestState, err error) error {
	phase, hostPort := st.get()
	var refused *RefusedError
	var timeout *TimeoutError
	var redirect *RedirectError
	switch {
	case errors.As(err, &refused):
		return st.redirected(refused)
	case errors.As(err, &timeout):
		return st.redirected(timeout)
	case errors.As(err, &redirect):
		return st.redirected(redirect)
	case ctx.Err() != nil:
		// The caller gave up (a render's own time limit): its reason.
		return context.Cause(ctx)
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded):
		return st.redirected(&TimeoutError{What: "on the whole request", Limit: c.policy.Timeout, Flag: "--chart-fetch-timeout"})
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		switch phase {
		case phaseTLS:
			return st.redirected(&TimeoutError{What: "in the TLS handshake with " + hostPort, Limit: c.policy.TLSHandshakeTimeout})
		case phaseHeaders:
			return st.redirected(&TimeoutError{What: "waiting for response headers from " + hostPort, Limit: c.policy.ResponseHeaderTimeout})
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return st.redirected(err)
}

type phase int

const (
	phaseStart phase = iota
	phaseTLS
	phaseHeaders
	phaseBody
)

type stateKey struct{}

// requestState follows one Get through its redirects, for messages.
type requestState struct {
	mu       sync.Mutex // guards the following; trace hooks run on transport goroutines
	phase    phase
	hostPort string
	last     *url.URL // the last redirect target, nil without redirects
}

func (s *requestState) set(p phase, hostPort string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = p
	if hostPort != "" {
		s.hostPort = hostPort
	}
}

func (s *requestState) get() (phase, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase, s.hostPort
}

func (s *requestState) redirect(u *url.URL) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = u
}

// redirected says where a redirect led before err happened there.
func (s *requestState) redirected(err error) error {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last == nil {
		return err
	}
	return fmt.Errorf("redirected to %s: %w", Redact(last), err)
}

func (s *requestState) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn:           func(hostPort string) { s.set(phaseStart, hostPort) },
		TLSHandshakeStart: func() { s.set(phaseTLS, "") },
		WroteRequest:      func(httptrace.WroteRequestInfo) { s.set(phaseHeaders, "") },
	}
}

// Redact gives a URL fit for an error or a log line: without user
// information and query, where credentials and signed tokens live.
func Redact(u *url.URL) string {
	r := *u
	r.User = nil
	if r.RawQuery != "" || r.ForceQuery {
		r.RawQuery, r.ForceQuery = "", true
	}
	r.Fragment, r.RawFragment = "", ""
	return r.String()
}
