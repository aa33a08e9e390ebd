package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/token"
	"flotilla.io/flotilla/internal/wire"
)

// enrollOnce is hubclient.Enroll (same request, same CA pinning) on a
// connection that is closed afterwards: hubclient's keeps an idle
// connection open for 90 s, which at 10,000 enrollments a minute doubles
// the file descriptors of both processes past a 20,000 limit.
func enrollOnce(ctx context.Context, tok token.Token, name string, csrPEM []byte) (wire.EnrollResponse, error) {
	u, err := url.Parse(tok.HubURL)
	if err != nil || u.Hostname() == "" {
		return wire.EnrollResponse{}, fmt.Errorf("hub URL %q is not a URL with a host", tok.HubURL)
	}
	host := u.Hostname()
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified below against the CA the token pins, not system roots.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs, tok.CAHash, host)
		},
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &client{base: tok.HubURL, http: &http.Client{Transport: tr}, tr: tr, bw: &byteCounter{conns: map[*countingConn]struct{}{}}}
	var resp wire.EnrollResponse
	if _, err := c.do(ctx, http.MethodPost, "/v1/enroll", wire.EnrollRequest{Token: tok.String(), Name: name, CSR: string(csrPEM)}, &resp); err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("enrolling: %w", err)
	}
	return resp, nil
}

// verifyPinned finds the pinned CA among the certificates the hub sent and
// verifies the hub's leaf against it, as hubclient does.
func verifyPinned(cs tls.ConnectionState, caHash, host string) error {
	var ca *x509.Certificate
	for _, c := range cs.PeerCertificates {
		if pki.Hash(c) == caHash {
			ca = c
		}
	}
	if ca == nil {
		return errors.New("hub's certificate chain does not contain the CA the token pins")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
		return fmt.Errorf("verifying hub certificate against the pinned CA: %w", err)
	}
	return nil
}
