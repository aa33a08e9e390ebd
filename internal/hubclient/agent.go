package hubclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/token"
	"flotilla.io/flotilla/internal/wire"
)

// Enroll joins a hub with a bootstrap token. Before it sends the token it
// checks that the hub presents a chain through the CA the token pins, as
// `kubeadm join --discovery-token-ca-cert-hash` does.
func Enroll(ctx context.Context, tok token.Token, name string, csrPEM []byte) (wire.EnrollResponse, error) {
	host, err := hostname(tok.HubURL)
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification happens in VerifyConnection against the pinned CA;
		// the system roots know nothing of the hub.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs, tok.CAHash, host)
		},
	}
	tr := newTransport(cfg)
	// One request on a connection trusted only for enrollment: do not keep it.
	defer tr.CloseIdleConnections()
	c := &client{base: tok.HubURL, http: &http.Client{Transport: tr}, agent: true}
	var resp wire.EnrollResponse
	if _, err := c.do(ctx, http.MethodPost, "/v1/enroll", wire.EnrollRequest{Token: tok.String(), Name: name, CSR: string(csrPEM)}, &resp); err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("enrolling: %w", err)
	}
	return resp, nil
}

// verifyPinned finds the pinned CA among the certificates the hub sent and
// verifies the hub's leaf against it.
func verifyPinned(cs tls.ConnectionState, caHash, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("hub presented no certificate")
	}
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
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
	if err != nil {
		return fmt.Errorf("verifying hub certificate against the pinned CA: %w", err)
	}
	return nil
}

func hostname(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("hub URL %q is not a URL with a host", rawURL)
	}
	return u.Hostname(), nil
}

// AgentConfig is what an enrolled agent needs to talk to its hub.
type AgentConfig struct {
	URL     string
	CAPEM   string
	CertPEM string
	KeyPEM  string
	// Now is the clock Retry-After dates are read against; time.Now when nil.
	Now func() time.Time
	// DialContext dials the hub; a net.Dialer's when nil. The simulator
	// counts each agent's wire bytes through it.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Agent is the client an enrolled agent uses.
type Agent struct {
	c  *client
	tr *http.Transport
}

// NewAgent returns a client that authenticates with the agent's certificate.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	pool, err := caPool(cfg.CAPEM)
	if err != nil {
		return nil, fmt.Errorf("loading hub CA: %w", err)
	}
	cert, err := tls.X509KeyPair([]byte(cfg.CertPEM), []byte(cfg.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("loading client certificate: %w", err)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}}
	tr := newTransport(tlsCfg)
	if cfg.DialContext != nil {
		tr.DialContext = cfg.DialContext
	}
	return &Agent{c: &client{base: cfg.URL, http: &http.Client{Transport: tr}, agent: true, now: cfg.Now}, tr: tr}, nil
}

// CloseIdleConnections closes the connections no request is using.
func (a *Agent) CloseIdleConnections() { a.tr.CloseIdleConnections() }

// Manifest long-polls for a manifest newer than have. base is the digest
// of the manifest content the agent holds with all its objects ("" for
// none): the hub may then answer with a delta against it (resolve it with
// wire.ResolveDelta) and ship the objects the agent lacks. It returns nil
// with no error when the poll ended without a change.
func (a *Agent) Manifest(ctx context.Context, have int64, base string) (*wire.SignedManifest, error) {
	var sm wire.SignedManifest
	path := fmt.Sprintf("/v1/agent/manifest?have=%d", have)
	if base != "" {
		path += "&base=" + url.QueryEscape(base)
	}
	code, err := a.c.do(ctx, http.MethodGet, path, nil, &sm)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotModified {
		return nil, nil
	}
	return &sm, nil
}

// Objects fetches objects by hash. The caller verifies them.
func (a *Agent) Objects(ctx context.Context, hashes []string) (map[string][]byte, error) {
	var resp wire.ObjectsResponse
	if _, err := a.c.do(ctx, http.MethodPost, "/v1/agent/objects", wire.ObjectsRequest{Hashes: hashes}, &resp); err != nil {
		return nil, err
	}
	return resp.Bytes(), nil
}

// Status posts a status report.
func (a *Agent) Status(ctx context.Context, r wire.StatusReport) error {
	_, err := a.c.do(ctx, http.MethodPost, "/v1/agent/status", r, nil)
	return err
}
