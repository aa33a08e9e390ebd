package kubeapiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// pki holds the paths of the credentials a server keeps in its directory.
// They are made once and reused, so a kubeconfig written for a data
// directory stays valid across restarts of a server on it.
type pki struct {
	clientCA     string // CA that signs client certificates (--client-ca-file)
	adminCert    string // client certificate in group system:masters
	adminKey     string
	saKey        string // service-account signing key
	servingCerts string // --cert-dir, where the API server makes its own serving cert
}

const certValidity = 10 * 365 * 24 * time.Hour

// ensurePKI creates whatever credentials are missing under dir.
func ensurePKI(dir string) (pki, error) {
	p := pki{
		clientCA:     filepath.Join(dir, "client-ca.crt"),
		adminCert:    filepath.Join(dir, "admin.crt"),
		adminKey:     filepath.Join(dir, "admin.key"),
		saKey:        filepath.Join(dir, "service-account.key"),
		servingCerts: filepath.Join(dir, "serving"),
	}
	if err := os.MkdirAll(p.servingCerts, 0o700); err != nil {
		return p, fmt.Errorf("creating pki directory: %w", err)
	}
	if err := ensureKey(p.saKey); err != nil {
		return p, err
	}
	if exists(p.clientCA) && exists(p.adminCert) && exists(p.adminKey) {
		return p, nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, fmt.Errorf("generating client CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "flotilla-devenv-client-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, caCert, err := signCert(caTmpl, nil, &caKey.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("signing client CA: %w", err)
	}
	adminKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, fmt.Errorf("generating admin key: %w", err)
	}
	adminTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "flotilla-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	adminDER, _, err := signCert(adminTmpl, caCert, &adminKey.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("signing admin certificate: %w", err)
	}
	adminKeyPEM, err := keyPEM(adminKey)
	if err != nil {
		return p, err
	}
	// The key is written before the certificates, so a directory with
	// all three files never pairs a certificate with a stale key.
	for _, f := range []struct {
		path string
		data []byte
	}{
		{p.adminKey, adminKeyPEM},
		{p.adminCert, certPEM(adminDER)},
		{p.clientCA, certPEM(caDER)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return p, fmt.Errorf("writing %s: %w", filepath.Base(f.path), err)
		}
	}
	return p, nil
}

func signCert(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = tmpl.NotBefore.Add(certValidity)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

// ensureKey writes a new ECDSA P-256 key to path unless one is there.
func ensureKey(path string) error {
	if exists(path) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating %s: %w", filepath.Base(path), err)
	}
	data, err := keyPEM(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
