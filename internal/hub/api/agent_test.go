package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/store/sqlstore"
)

// noSources is a fetcher for hubs that have no sources.
type noSources struct{}

func (noSources) Fetch(context.Context, string, string, string) (gitsource.Revision, error) {
	return gitsource.Revision{}, errors.New("no sources in this test")
}

func (noSources) Cached(string, string, string, string) (gitsource.Revision, error) {
	return gitsource.Revision{}, errors.New("no sources in this test")
}

// testAgents serves the API over a real hub on SQLite whose clusters are
// the ids given, each with a certificate of serial 1, 2, ...
func testAgents(t *testing.T, lim Limits, ids ...string) http.Handler {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ca, _, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h, err := hub.New(hub.Options{Store: db, CA: ca, SigningKey: key, Fetcher: noSources{}})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		c := store.Cluster{ID: id, Name: id, CertSerial: big.NewInt(int64(i + 1)).Text(16), CreatedAt: time.Now()}
		if err := db.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return New(Options{Hub: h, Limits: lim})
}

// agentRequest is a request from the i-th cluster of testAgents (from 0),
// as the TLS layer would hand it over once the certificate is verified.
func agentRequest(i int, id, method, path string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, path, body)
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: id}, SerialNumber: big.NewInt(int64(i + 1))}
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	return r
}

// TestSlowAgentBodyHoldsNoSlot: an agent whose request body trickles in
// (a slow link, or a stolen certificate used to starve the fleet) holds
// no slot of the agent pool meanwhile, so other agents are served.
func TestSlowAgentBodyHoldsNoSlot(t *testing.T) {
	// One slot, and a short queue: a slot held by the slow body would
	// answer the other agent 503 within milliseconds.
	srv := testAgents(t, Limits{MaxAgentInFlight: 1, QueueWait: 10 * time.Millisecond}, "slow", "other")
	for _, path := range []string{"/v1/agent/status", "/v1/agent/objects"} {
		t.Run(path, func(t *testing.T) {
			pr, pw := io.Pipe()
			slow := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				srv.ServeHTTP(slow, agentRequest(0, "slow", "POST", path, pr))
			}()
			t.Cleanup(func() { pw.Close(); <-done })
			// The write returns once the handler read it: the handler is
			// then reading the body, and reads on until the pipe closes.
			wrote := make(chan error, 1)
			go func() { _, err := pw.Write([]byte("{")); wrote <- err }()
			select {
			case err := <-wrote:
				if err != nil {
					t.Fatal(err)
				}
			case <-done:
				t.Fatalf("the slow request was answered %d %s before its body was read", slow.Code, slow.Body)
			}
			for i := range 3 {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, agentRequest(1, "other", "POST", "/v1/agent/status", bytes.NewReader([]byte("{}"))))
				if rec.Code != http.StatusNoContent {
					t.Fatalf("other agent's status %d while a body trickles in = %d %s, want 204", i, rec.Code, rec.Body)
				}
			}
			pw.Close()
			<-done
			if slow.Code != http.StatusBadRequest {
				t.Errorf("the cut-off body = %d %s, want 400", slow.Code, slow.Body)
			}
		})
	}
}
