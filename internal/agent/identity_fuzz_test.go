package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/pki"
)

// FuzzLoadIdentity: whatever identity.json holds (beside a sound key,
// certificate and CA), the agent either starts as a cluster it can be, with
// a hub it can reach over https and a manifest key it can verify with, or
// refuses with an error naming the file. A loaded identity written again
// loads equal.
func FuzzLoadIdentity(f *testing.F) {
	dir := f.TempDir()
	ca, _, err := pki.NewCA("fuzz", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	csr, keyPEM, err := pki.NewCSR("edge")
	if err != nil {
		f.Fatal(err)
	}
	certPEM, _, err := ca.SignClient(csr, "c1", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for name, data := range map[string][]byte{keyFile: keyPEM, certFile: certPEM, caFile: ca.CertPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			f.Fatal(err)
		}
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := identity{ClusterID: "c1", Name: "edge", HubURL: "https://hub.example:8443", SigningKey: base64.StdEncoding.EncodeToString(pub)}
	data, _ := json.MarshalIndent(good, "", "  ")
	f.Add(data)
	f.Add([]byte(`{"clusterID":"c1","hubURL":"https://h","signingKey":"AAAA"}`))
	f.Add([]byte(`{"clusterID":"c1","hubURL":"http://h","signingKey":"` + good.SigningKey + `"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, identityFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := loadIdentity(dir)
		if err != nil {
			if !strings.Contains(err.Error(), identityFile) {
				t.Fatalf("error %q does not name %s", err, identityFile)
			}
			return
		}
		u, err := url.Parse(id.HubURL)
		if id.ClusterID == "" || err != nil || u.Scheme != "https" || u.Host == "" || len(id.pub) != ed25519.PublicKeySize {
			t.Fatalf("loaded identity %+v", id)
		}
		if _, err := hubclient.NewAgent(id.client); err != nil {
			t.Fatalf("loaded an identity the client cannot use: %v", err)
		}
		again, err := json.Marshal(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, identityFile), again, 0o600); err != nil {
			t.Fatal(err)
		}
		id2, err := loadIdentity(dir)
		if err != nil {
			t.Fatalf("identity written again does not load: %v", err)
		}
		if diff := cmp.Diff(id, id2, cmp.AllowUnexported(identity{}), cmp.Comparer(func(a, b hubclient.AgentConfig) bool {
			return a.URL == b.URL && a.CAPEM == b.CAPEM && a.CertPEM == b.CertPEM && a.KeyPEM == b.KeyPEM
		})); diff != "" {
			t.Fatalf("identity written again loads different (-first +again):\n%s", diff)
		}
	})
}
