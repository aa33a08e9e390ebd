package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"slices"
	"testing"
	"time"
)

// issuedExtensions are the only extensions a client certificate may carry:
// key usage, extended key usage and the authority key ID. Nothing the
// request asks for (names, basic constraints) gets in.
var issuedExtensions = []string{"2.5.29.15", "2.5.29.37", "2.5.29.35"}

// FuzzSignClient: a certificate request from the network is either refused
// or yields a certificate for the cluster ID the hub chose (never a name
// from the request), for client authentication only, not a CA, binding the
// request's own key, that verifies against the hub's CA. The fuzz input is
// the request's DER, wrapped in PEM unless raw is set.
func FuzzSignClient(f *testing.F) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ca, _, err := NewCA("fuzz-ca", now)
	if err != nil {
		f.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	addDER := func(csrPEM []byte) {
		block, _ := pem.Decode(csrPEM)
		f.Add(block.Bytes, false)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	// A request that asks to be a CA, for other names, as another cluster.
	greedy := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "other-cluster", Organization: []string{"system:masters"}},
		DNSNames:       []string{"hub.example"},
		IPAddresses:    []net.IP{net.IPv4(127, 0, 0, 1)},
		EmailAddresses: []string{"a@example.com"},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}},
		},
	}
	for _, key := range []crypto.Signer{p256, p224, ed, rsaKey} {
		addDER(requestFor(f, key, nil))
		addDER(requestFor(f, key, greedy))
	}
	csr, _, _ := NewCSR("edge-1")
	f.Add(csr, true)
	addDER(unsignedRSARequest(f, 16384))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n\n-----END CERTIFICATE REQUEST-----\n"), true)

	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		in := data
		if !raw {
			in = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: data})
		}
		certPEM, serial, err := ca.SignClient(in, "cluster-7f3a", now)
		if err != nil {
			if certPEM != nil || serial != "" {
				t.Fatal("SignClient returned a certificate with an error")
			}
			return
		}
		req, err := ParseRequest(in)
		if err != nil {
			t.Fatalf("SignClient accepted a request ParseRequest refuses: %v", err)
		}
		cert, err := ParseCert(certPEM)
		if err != nil {
			t.Fatalf("issued certificate does not parse: %v", err)
		}
		checkClientCert(t, cert, req, serial)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("issued certificate does not verify against the CA: %v", err)
		}
	})
}

func checkClientCert(t *testing.T, cert *x509.Certificate, req *x509.CertificateRequest, serial string) {
	t.Helper()
	if cert.Subject.CommonName != "cluster-7f3a" || !slices.Equal(cert.Subject.Organization, []string{"flotilla:agents"}) ||
		len(cert.Subject.Names) != 2 || len(cert.Subject.ExtraNames) != 0 {
		t.Fatalf("issued certificate has subject %v, want CN=cluster-7f3a,O=flotilla:agents only", cert.Subject)
	}
	if len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.EmailAddresses)+len(cert.URIs) > 0 {
		t.Fatalf("issued certificate carries names from the request: %v %v %v %v", cert.DNSNames, cert.IPAddresses, cert.EmailAddresses, cert.URIs)
	}
	if cert.IsCA || cert.BasicConstraintsValid || cert.KeyUsage != x509.KeyUsageDigitalSignature ||
		!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || len(cert.UnknownExtKeyUsage) > 0 {
		t.Fatalf("issued certificate: CA %v, key usage %v, ext key usage %v %v; want a client-auth leaf",
			cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
	}
	for _, e := range cert.Extensions {
		if !slices.Contains(issuedExtensions, e.Id.String()) {
			t.Fatalf("issued certificate carries extension %v", e.Id)
		}
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(req.PublicKey) {
		t.Fatal("issued certificate does not bind the request's key")
	}
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, req.RawSubjectPublicKeyInfo) {
		t.Fatal("issued certificate's key info differs from the request's")
	}
	if cert.SerialNumber.Text(16) != serial {
		t.Fatalf("serial %s, certificate has %s", serial, cert.SerialNumber.Text(16))
	}
	if !agentKey(req.PublicKey) {
		t.Fatalf("issued a certificate for a %T key outside the accepted kinds and sizes", req.PublicKey)
	}
}

// agentKey is the key policy, stated apart from the code that enforces it:
// what TLS client authentication takes, RSA within crypto/tls's bounds.
func agentKey(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		bits := k.Curve.Params().BitSize
		return bits == 256 || bits == 384 || bits == 521
	case ed25519.PublicKey:
		return true
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048 && k.N.BitLen() <= 8192
	}
	return false
}
