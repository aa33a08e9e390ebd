package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Limits on an agent's certificate request. The keys accepted are those TLS
// client authentication takes; RSA is bounded by what crypto/tls accepts in
// a peer certificate (8192 bits), so a certificate issued here can always
// be used, and checking a request stays cheap: verifying the signature of
// a 200,000-bit RSA key costs about half a second.
const (
	// MaxRequestBytes bounds a PEM certificate request; an RSA-8192
	// request is about 2.5 KiB.
	MaxRequestBytes = 16 << 10
	minRSABits      = 2048
	maxRSABits      = 8192
)

// acceptedKeys names the accepted keys in messages.
const acceptedKeys = "ECDSA P-256, P-384 or P-521, Ed25519, or RSA of 2048 to 8192 bits"

// ParseRequest parses a PEM certificate request and checks that its key is
// of a kind and size agents may hold and that it signed the request. The
// key is checked before the signature, so an oversized key costs nothing.
// The hub calls it before it spends anything on the request (a token
// use), then signs what it returns with SignRequest.
func ParseRequest(csrPEM []byte) (*x509.CertificateRequest, error) {
	if len(csrPEM) > MaxRequestBytes {
		return nil, fmt.Errorf("certificate request has %d bytes, more than the %d allowed", len(csrPEM), MaxRequestBytes)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("certificate request is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w", err)
	}
	if err := checkRequestKey(csr); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("checking certificate request signature: %w", err)
	}
	return csr, nil
}

func checkRequestKey(csr *x509.CertificateRequest) error {
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("certificate request has an ECDSA key on curve %s; accepted keys are %s", k.Curve.Params().Name, acceptedKeys)
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("certificate request has an RSA key of %d bits; accepted keys are %s", bits, acceptedKeys)
		}
		return nil
	}
	return fmt.Errorf("certificate request has a %s key; accepted keys are %s", csr.PublicKeyAlgorithm, acceptedKeys)
}
