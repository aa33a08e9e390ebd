package pki

import (
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
	"math/big"
	"strings"
	"testing"
	"time"
)

// requestFor returns a PEM certificate request signed by key.
func requestFor(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "edge"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// unsignedRSARequest returns a well-formed certificate request for an RSA
// public key of the given size with a signature of random bytes: making a
// real key that large takes minutes, and the size must be refused before
// the signature is even looked at.
func unsignedRSARequest(t testing.TB, bits int) []byte {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	spki, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := asn1.Marshal(pkix.Name{CommonName: "edge"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	type info struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}
	tbs, err := asn1.Marshal(info{Subject: asn1.RawValue{FullBytes: subject}, PublicKey: asn1.RawValue{FullBytes: spki}, Attributes: []asn1.RawValue{}})
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, bits/8)
	_, _ = rand.Read(sig)
	der, err := asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{
		Info:      asn1.RawValue{FullBytes: tbs},
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		Signature: asn1.BitString{Bytes: sig, BitLength: len(sig) * 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignClientKeyKinds(t *testing.T) {
	ca, _, err := NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ecKey := func(c elliptic.Curve) crypto.Signer {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		csr  []byte
		// wantErr is in the error; empty when the request is accepted.
		wantErr string
	}{
		{"ECDSA P-256", requestFor(t, ecKey(elliptic.P256()), nil), ""},
		{"ECDSA P-384", requestFor(t, ecKey(elliptic.P384()), nil), ""},
		{"ECDSA P-521", requestFor(t, ecKey(elliptic.P521()), nil), ""},
		{"Ed25519", requestFor(t, edKey, nil), ""},
		{"RSA 2048", requestFor(t, rsaKey, nil), ""},
		{"ECDSA P-224", requestFor(t, ecKey(elliptic.P224()), nil), "ECDSA key on curve P-224; accepted keys are ECDSA P-256"},
		{"RSA 16384", unsignedRSARequest(t, 16384), "RSA key of 16384 bits; accepted keys are"},
		{"RSA 40000, refused before its signature is checked", unsignedRSARequest(t, 40000), "RSA key of 40000 bits"},
		{"RSA 200000", unsignedRSARequest(t, 200000), "more than the 16384 allowed"},
		{"RSA 1024", unsignedRSARequest(t, 1024), "RSA key of 1024 bits"},
		{"RSA 2048 with a forged signature", unsignedRSARequest(t, 2048), "checking certificate request signature"},
		{"over the size limit", append(requestFor(t, edKey, nil), make([]byte, MaxRequestBytes)...), "more than the 16384 allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ca.SignClient(tc.csr, "cluster-id", time.Now())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("SignClient: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("SignClient accepted the request, want an error with %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("SignClient error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestSignRequestBindsTheParsedKey: a request ParseRequest returned is
// signed without being parsed again, for its key and nothing else of it;
// a key agents may not hold is refused even when the request was not
// parsed here.
func TestSignRequestBindsTheParsedKey(t *testing.T) {
	ca, _, err := NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseRequest(requestFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "chosen-by-agent"}, DNSNames: []string{"evil.example"}}))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, serial, err := ca.SignRequest(csr, "cluster-id", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate does not bind the request's key")
	}
	if cert.Subject.CommonName != "cluster-id" || len(cert.DNSNames) != 0 || cert.SerialNumber.Text(16) != serial {
		t.Errorf("certificate CN=%q names=%v serial=%s, want cluster-id, none, %s", cert.Subject.CommonName, cert.DNSNames, cert.SerialNumber.Text(16), serial)
	}
	weak, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.SignRequest(&x509.CertificateRequest{PublicKey: &weak.PublicKey}, "cluster-id", time.Now()); err == nil || !strings.Contains(err.Error(), "curve P-224") {
		t.Errorf("signing a P-224 key = %v, want refused", err)
	}
}
