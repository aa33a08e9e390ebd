package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/token"
)

// Files in the state directory.
const (
	identityFile = "identity.json"
	keyFile      = "client.key"
	certFile     = "client.crt"
	caFile       = "hub-ca.crt"
	manifestFile = "manifest.json"
	// prevManifestFile is the previous good manifest, the fallback when
	// manifest.json is found unusable.
	prevManifestFile = "manifest.prev.json"
	// statusFile holds the status not yet delivered to the hub.
	statusFile = "status.json"
	objectsDir = "objects"
)

// identity is who the agent is and which hub it trusts, kept from enrollment.
type identity struct {
	ClusterID string `json:"clusterID"`
	Name      string `json:"name"`
	HubURL    string `json:"hubURL"`
	// SigningKey is the hub's ed25519 manifest key, base64.
	SigningKey string `json:"signingKey"`

	pub    ed25519.PublicKey
	client hubclient.AgentConfig
}

// loadIdentity reads the identity kept in dir; fs.ErrNotExist when the
// agent has not enrolled yet.
func loadIdentity(dir string) (*identity, error) {
	data, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(data, &id); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", identityFile, err)
	}
	if err := id.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", identityFile, err)
	}
	files := map[string]*string{keyFile: &id.client.KeyPEM, certFile: &id.client.CertPEM, caFile: &id.client.CAPEM}
	for name, dst := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		*dst = string(b)
	}
	id.client.URL = id.HubURL
	return &id, nil
}

// check refuses a kept identity the agent could not run with: without it,
// an empty cluster ID surfaced only as every manifest being refused.
func (id *identity) check() error {
	if id.ClusterID == "" {
		return errors.New("cluster ID is empty")
	}
	if u, err := url.Parse(id.HubURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("hub URL is not https://host[:port]")
	}
	return id.decodeKey()
}

func (id *identity) decodeKey() error {
	k, err := base64.StdEncoding.DecodeString(id.SigningKey)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return errors.New("hub signing key is not a base64 ed25519 public key")
	}
	id.pub = k
	return nil
}

// enroll joins the hub with a bootstrap token and keeps the identity in dir.
// The key never leaves the device: only its certificate request is sent.
func enroll(ctx context.Context, dir, rawToken, name string) (*identity, error) {
	tok, err := token.Parse(rawToken)
	if err != nil {
		return nil, err
	}
	csr, keyPEM, err := pki.NewCSR(name)
	if err != nil {
		return nil, err
	}
	resp, err := hubclient.Enroll(ctx, tok, name, csr)
	if err != nil {
		return nil, err
	}
	id := &identity{ClusterID: resp.ClusterID, Name: resp.Name, HubURL: tok.HubURL, SigningKey: resp.SigningKey}
	if err := id.decodeKey(); err != nil {
		return nil, err
	}
	id.client = hubclient.AgentConfig{URL: tok.HubURL, CAPEM: resp.CA, CertPEM: resp.Certificate, KeyPEM: string(keyPEM)}
	// The identity file goes last: its presence means enrollment completed.
	writes := []struct {
		name string
		data []byte
	}{
		{keyFile, keyPEM},
		{certFile, []byte(resp.Certificate)},
		{caFile, []byte(resp.CA)},
	}
	for _, w := range writes {
		if err := atomicfile.Write(filepath.Join(dir, w.name), w.data, 0o600); err != nil {
			return nil, err
		}
	}
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding identity: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, identityFile), data, 0o600); err != nil {
		return nil, err
	}
	return id, nil
}

func notEnrolled(err error) bool { return errors.Is(err, fs.ErrNotExist) }
