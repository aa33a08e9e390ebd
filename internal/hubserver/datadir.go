package hubserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/pki"
)

// Files under the data directory.
const (
	dbFile      = "hub.db"
	caCertFile  = "ca.crt"
	caKeyFile   = "ca.key"
	serverCert  = "hub.crt"
	serverKey   = "hub.key"
	signingFile = "signing.key"
	adminFile   = "admin.yaml"
)

// identity is what the hub loads from its data directory.
type identity struct {
	ca        *pki.CA
	signing   ed25519.PrivateKey
	tlsCert   tls.Certificate
	adminHash []byte
}

// loadIdentity creates on first start, and loads on every start, the CA,
// the serving certificate (reissued when it does not cover the advertised
// host or nears expiry), the manifest signing key and the admin config.
func loadIdentity(dir, hubURL string, now time.Time) (identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return identity{}, fmt.Errorf("creating data directory: %w", err)
	}
	ca, err := loadOrCreateCA(dir, now)
	if err != nil {
		return identity{}, err
	}
	signing, err := loadOrCreateSigningKey(dir)
	if err != nil {
		return identity{}, err
	}
	host := hostOf(hubURL)
	cert, err := loadOrIssueServerCert(dir, ca, host, now)
	if err != nil {
		return identity{}, err
	}
	hash, err := ensureAdmin(dir, hubURL, ca)
	if err != nil {
		return identity{}, err
	}
	return identity{ca: ca, signing: signing, tlsCert: cert, adminHash: hash}, nil
}

func loadOrCreateCA(dir string, now time.Time) (*pki.CA, error) {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, caCertFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err1 == nil && err2 == nil {
		return pki.LoadCA(certPEM, keyPEM)
	}
	if !errors.Is(err1, fs.ErrNotExist) || !errors.Is(err2, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading CA: only one of %s and %s is readable (%v, %v)", caCertFile, caKeyFile, err1, err2)
	}
	ca, keyPEM, err := pki.NewCA("flotilla-hub-ca", now)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, caCertFile), ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

func loadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	p := filepath.Join(dir, signingFile)
	data, err := os.ReadFile(p)
	if err == nil {
		k, err := pki.ParseKey(data)
		if err != nil {
			return nil, fmt.Errorf("loading signing key: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("loading signing key: %s is a %T, not ed25519", p, k)
		}
		return ek, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading signing key: %w", err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	pemBytes, err := pki.EncodeKey(k)
	if err != nil {
		return nil, err
	}
	return k, atomicfile.Write(p, pemBytes, 0o600)
}

// loadOrIssueServerCert serves the chain leaf + CA so that an enrolling
// agent can find the CA its token pins.
func loadOrIssueServerCert(dir string, ca *pki.CA, host string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, serverCert), filepath.Join(dir, serverKey)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err == nil && leaf.VerifyHostname(host) == nil && now.Add(30*24*time.Hour).Before(leaf.NotAfter) && leaf.CheckSignatureFrom(ca.Cert) == nil {
			return c, nil
		}
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", host}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	certPEM, keyPEM, err := ca.IssueServer(hosts, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain := append(certPEM, ca.CertPEM...)
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.Write(certPath, chain, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(chain, keyPEM)
}

// ensureAdmin writes admin.yaml with a fresh token on first start and keeps
// its token afterwards, updating the hub URL. It returns the token's hash,
// which is all the hub checks bearer tokens against. Deleting admin.yaml
// and restarting the hub rotates the token.
func ensureAdmin(dir, hubURL string, ca *pki.CA) ([]byte, error) {
	p := filepath.Join(dir, adminFile)
	cfg, err := clientconfig.Load(p)
	if err != nil {
		if _, statErr := os.Stat(p); statErr == nil {
			return nil, fmt.Errorf("loading %s: %w", p, err)
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating admin token: %w", err)
		}
		cfg = clientconfig.Config{Token: hex.EncodeToString(b)}
	}
	cfg.Hub, cfg.CA = hubURL, string(ca.CertPEM)
	if err := clientconfig.Write(p, cfg); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(cfg.Token))
	return sum[:], nil
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// advertiseURL derives the URL agents use from the listener when none is
// given: the listen host, or 127.0.0.1 for a wildcard listen address.
func advertiseURL(given string, addr net.Addr) string {
	if given != "" {
		return given
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "https://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port)
}
