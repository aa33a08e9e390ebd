package pki

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestCAIssuesVerifiableCertificates(t *testing.T) {
	now := time.Now()
	ca, keyPEM, err := NewCA("test-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCA(ca.CertPEM, keyPEM)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if Hash(loaded.Cert) != Hash(ca.Cert) || !strings.HasPrefix(Hash(ca.Cert), "sha256:") {
		t.Fatalf("hash mismatch or format: %s", Hash(ca.Cert))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	srvPEM, _, err := loaded.IssueServer([]string{"hub.example", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ParseCert(srvPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"hub.example", "127.0.0.1"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("server cert for %s: %v", host, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example"}); err == nil {
		t.Error("server cert verifies for a host it was not issued for")
	}

	csr, _, err := NewCSR("edge-1")
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, serial, err := ca.SignClient(csr, "cluster-id", now)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ParseCert(clientPEM)
	if err != nil {
		t.Fatal(err)
	}
	if client.Subject.CommonName != "cluster-id" || client.SerialNumber.Text(16) != serial {
		t.Errorf("client cert CN=%q serial=%s, want cluster-id/%s", client.Subject.CommonName, client.SerialNumber.Text(16), serial)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert: %v", err)
	}
}

func TestSignClientRejects(t *testing.T) {
	ca, _, err := NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csr, _, _ := NewCSR("x")
	corrupt := []byte(strings.Replace(string(csr), "A", "B", 5))
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not pem", []byte("hello")},
		{"certificate instead of request", ca.CertPEM},
		{"corrupt request", corrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ca.SignClient(tc.in, "id", time.Now()); err == nil {
				t.Fatal("SignClient accepted bad input")
			}
		})
	}
}
