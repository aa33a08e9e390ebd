package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/wire"
)

// fakeHub speaks the agent protocol with canned answers. The agent under
// test talks to it over real mTLS.
type fakeHub struct {
	srv  *httptest.Server
	key  ed25519.PrivateKey
	ca   *pki.CA
	mu   sync.Mutex // guards the following
	man  *wire.SignedManifest
	objs map[string][]byte
	reps []wire.StatusReport
	// shedding makes every agent route answer 503 with Retry-After.
	shedding bool
	// statusFailures is how many status posts to fail with 500 first.
	statusFailures int
	// rawHTML sends manifests without escaping HTML characters in them,
	// as a hub other than this one might.
	rawHTML bool
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	ca, _, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h := &fakeHub{key: key, ca: ca, objs: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agent/manifest", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		m, raw := h.man, h.rawHTML
		h.mu.Unlock()
		if m == nil {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(!raw)
		_ = enc.Encode(m)
	})
	mux.HandleFunc("POST /v1/agent/objects", func(w http.ResponseWriter, r *http.Request) {
		var req wire.ObjectsRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		h.mu.Lock()
		out := map[string][]byte{}
		for _, k := range req.Hashes {
			out[k] = h.objs[k]
		}
		h.mu.Unlock()
		_ = json.NewEncoder(w).Encode(wire.ObjectsResponse{Objects: wire.RawObjects(out)})
	})
	mux.HandleFunc("POST /v1/agent/status", func(w http.ResponseWriter, r *http.Request) {
		var rep wire.StatusReport
		_ = json.NewDecoder(r.Body).Decode(&rep)
		h.mu.Lock()
		if h.statusFailures > 0 {
			h.statusFailures--
			h.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		h.reps = append(h.reps, rep)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		shed := h.shedding
		h.mu.Unlock()
		if shed {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

// enrollInto writes an identity for cluster id into dir, as enrollment would.
func (h *fakeHub) enrollInto(t *testing.T, dir, id string) {
	t.Helper()
	csr, keyPEM, err := pki.NewCSR(id)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := h.ca.SignClient(csr, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ident := identity{ClusterID: id, Name: id, HubURL: h.srv.URL, SigningKey: base64.StdEncoding.EncodeToString(h.key.Public().(ed25519.PublicKey))}
	data, _ := json.Marshal(ident)
	files := map[string][]byte{keyFile: keyPEM, certFile: certPEM, caFile: h.ca.CertPEM, identityFile: data}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// serve makes the hub offer a manifest of one bundle holding objs, signed
// for cluster at generation gen.
func (h *fakeHub) serve(t *testing.T, cluster string, gen int64, objs ...map[string]any) {
	t.Helper()
	ref := wire.BundleRef{Name: "b", Source: "s", Commit: "c", Objects: []string{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range objs {
		data, err := wire.Canonical(o)
		if err != nil {
			t.Fatal(err)
		}
		hash := wire.Hash(data)
		h.objs[hash] = data
		ref.Objects = append(ref.Objects, hash)
	}
	sm, err := wire.SignManifest(h.key, wire.Manifest{ClusterID: cluster, Generation: gen, Bundles: []wire.BundleRef{ref}})
	if err != nil {
		t.Fatal(err)
	}
	h.man = &sm
}

func (h *fakeHub) lastReport() (wire.StatusReport, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reps) == 0 {
		return wire.StatusReport{}, false
	}
	return h.reps[len(h.reps)-1], true
}

// fakeApplier records what it is asked to apply and to assess.
type fakeApplier struct {
	mu      sync.Mutex // guards the following
	applied map[string][]string
	health  map[string]int // Health calls by set
}

func (f *fakeApplier) Apply(_ context.Context, set kubeapply.Set) (kubeapply.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		f.applied = map[string][]string{}
	}
	var names []string
	for _, o := range set.Objects {
		names = append(names, o.GetName())
	}
	f.applied[set.Name] = names
	return kubeapply.Result{}, nil
}

func (f *fakeApplier) Delete(context.Context, string) error { return nil }

func (f *fakeApplier) Sets(context.Context) ([]string, error) { return nil, nil }

func (f *fakeApplier) Health(_ context.Context, set kubeapply.Set) (kubeapply.Health, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.health == nil {
		f.health = map[string]int{}
	}
	f.health[set.Name]++
	return kubeapply.Health{Ready: true}, nil
}

func (f *fakeApplier) healthChecks(set string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health[set]
}

func (f *fakeApplier) Watch(ctx context.Context, _ *kubeapply.Watched, _ func(kubeapply.DriftEvent)) {
	<-ctx.Done()
}

func (f *fakeApplier) Restore(context.Context, kubeapply.Set, []kubeapply.ObjectRef) (kubeapply.Result, error) {
	return kubeapply.Result{}, nil
}

func (f *fakeApplier) Drifted(context.Context, kubeapply.Set, []kubeapply.ObjectRef, []kubeapply.IgnoreRule) ([]kubeapply.Drift, error) {
	return nil, nil
}

func (f *fakeApplier) Facts(context.Context) (kubeapply.ClusterFacts, error) {
	return kubeapply.ClusterFacts{Arch: "arm64", OS: "linux", Nodes: 1}, nil
}

func (f *fakeApplier) names(set string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[set]
}

func configMap(name, value string) map[string]any {
	return (&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"data":     map[string]any{"v": value},
	}}).Object
}

func startAgent(t *testing.T, dir string, ap Applier) {
	t.Helper()
	t.Cleanup(startAgentStoppable(t, dir, ap))
}

// startAgentStoppable starts an agent and returns what stops it (once).
func startAgentStoppable(t *testing.T, dir string, ap Applier) func() {
	t.Helper()
	a, err := New(Options{StateDir: dir, Applier: ap, Resync: time.Hour, PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgentAppliesVerifiedManifest(t *testing.T) {
	hub := newFakeHub(t)
	dir := t.TempDir()
	hub.enrollInto(t, dir, "c1")
	hub.serve(t, "c1", 1, configMap("a", "1"), configMap("b", "2"))
	ap := &fakeApplier{}
	startAgent(t, dir, ap)
	eventually(t, "a Ready report for generation 1", func() bool {
		r, ok := hub.lastReport()
		return ok && r.AppliedGeneration == 1 && len(r.Bundles) == 1 && r.Bundles[0].State == wire.StateReady
	})
	if got := strings.Join(ap.names("b"), ","); got != "a,b" {
		t.Errorf("applied %q, want a,b", got)
	}
	// The verified state is kept for restarts without the hub.
	if _, err := os.Stat(filepath.Join(dir, manifestFile)); err != nil {
		t.Errorf("manifest not kept: %v", err)
	}
}

func TestAgentRefuses(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, h *fakeHub)
		wantErr string
	}{
		{"tampered object", func(t *testing.T, h *fakeHub) {
			h.serve(t, "c1", 2, configMap("a", "evil"))
			h.mu.Lock()
			for k := range h.objs {
				h.objs[k] = []byte(strings.Replace(string(h.objs[k]), "evil", "EVIL", 1))
			}
			h.mu.Unlock()
		}, "does not match its hash"},
		{"lower generation", func(t *testing.T, h *fakeHub) {
			h.serve(t, "c1", 0, configMap("a", "old"))
		}, "older"},
		{"manifest for another cluster", func(t *testing.T, h *fakeHub) {
			h.serve(t, "c2", 2, configMap("a", "theirs"))
		}, "another cluster"},
		{"bad signature", func(t *testing.T, h *fakeHub) {
			h.serve(t, "c1", 2, configMap("a", "x"))
			h.mu.Lock()
			h.man.Signature[0] ^= 0xff
			h.mu.Unlock()
		}, "signature"},
		{"content signed in a form the agent cannot keep", func(t *testing.T, h *fakeHub) {
			// Verifiable as received, but kept by encoding/json it would
			// be escaped, fail its digest and be refused at the next start.
			content := []byte(`[{"name":"b","source":"<s>","commit":"c","objects":[]}]`)
			sm, err := wire.SignContent(h.key, "c1", 2, content)
			if err != nil {
				t.Fatal(err)
			}
			h.mu.Lock()
			h.man, h.rawHTML = &sm, true
			h.mu.Unlock()
		}, "would not verify once kept"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hub := newFakeHub(t)
			dir := t.TempDir()
			hub.enrollInto(t, dir, "c1")
			hub.serve(t, "c1", 1, configMap("a", "good"))
			ap := &fakeApplier{}
			startAgent(t, dir, ap)
			eventually(t, "generation 1 applied", func() bool {
				r, ok := hub.lastReport()
				return ok && r.AppliedGeneration == 1
			})
			tc.tamper(t, hub)
			eventually(t, "a status error naming the refusal", func() bool {
				r, _ := hub.lastReport()
				return strings.Contains(r.Error, tc.wantErr)
			})
			r, _ := hub.lastReport()
			if r.AppliedGeneration != 1 {
				t.Errorf("applied generation = %d after a refusal, want 1", r.AppliedGeneration)
			}
			if diff := strings.Join(ap.names("b"), ","); diff != "a" {
				t.Errorf("applied objects %q", diff)
			}
			data, err := os.ReadFile(filepath.Join(dir, manifestFile))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), "payload") || strings.Contains(string(data), "evil") {
				t.Errorf("refused content reached the disk")
			}
		})
	}
}

func TestAgentReconcilesFromDiskWithoutHub(t *testing.T) {
	hub := newFakeHub(t)
	dir := t.TempDir()
	hub.enrollInto(t, dir, "c1")
	hub.serve(t, "c1", 3, configMap("kept", "1"))
	first := &fakeApplier{}
	a, err := New(Options{StateDir: dir, Applier: first, Resync: time.Hour, PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, "first apply", func() bool { return len(first.names("b")) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	hub.srv.Close() // the hub is gone
	// Applied as it is before the restart: the agent reads its health
	// (the drift watch checks its members) and applies nothing.
	second := &fakeApplier{}
	stop := startAgentStoppable(t, dir, second)
	eventually(t, "health of the kept manifest", func() bool { return second.healthChecks("b") > 0 })
	stop()
	if got := second.names("b"); got != nil {
		t.Errorf("applied %q again although it was applied as it is", got)
	}

	// Without the record of what was applied, it applies from disk.
	if err := os.Remove(filepath.Join(dir, statusFile)); err != nil {
		t.Fatal(err)
	}
	third := &fakeApplier{}
	startAgent(t, dir, third)
	eventually(t, "apply from the kept manifest", func() bool { return len(third.names("b")) == 1 })
	if got := third.names("b")[0]; got != "kept" {
		t.Errorf("applied %q from disk, want kept", got)
	}
}

func TestAgentIgnoresCorruptKeptObject(t *testing.T) {
	hub := newFakeHub(t)
	dir := t.TempDir()
	hub.enrollInto(t, dir, "c1")
	hub.serve(t, "c1", 1, configMap("a", "1"))
	id, err := loadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := store{dir: dir}
	hub.mu.Lock()
	sm := *hub.man
	objs := hub.objs
	hub.mu.Unlock()
	m, err := wire.VerifyManifest(id.pub, sm, "c1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.putObjects(objs, s.missing(m)); err != nil {
		t.Fatal(err)
	}
	keepManifest(t, s, sm)
	for h := range objs {
		if err := os.WriteFile(s.objectPath(h), []byte(`{"kind":"garbage"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := s.load(id)
	if got.desired != nil || got.problem == nil || !strings.Contains(got.problem.Error(), "corrupt") {
		t.Fatalf("load of a corrupt object = %+v, want no state and a corruption error", got)
	}
}

// TestStatusGoesOnceTheHubAnswers: status that failed to send waits out no
// backoff once the poller hears from the hub again.
func TestStatusGoesOnceTheHubAnswers(t *testing.T) {
	hub := newFakeHub(t)
	dir := t.TempDir()
	hub.enrollInto(t, dir, "c1")
	hub.serve(t, "c1", 1, configMap("a", "1"))
	hub.mu.Lock()
	hub.statusFailures = 1
	hub.mu.Unlock()
	// An hour of backoff: only the poller's signal can deliver in time.
	a, err := New(Options{StateDir: dir, Applier: &fakeApplier{}, Resync: time.Hour, PollTimeout: 5 * time.Second, RetryBase: time.Hour, RetryMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	eventually(t, "the status after a failed post", func() bool {
		r, ok := hub.lastReport()
		return ok && r.AppliedGeneration == 1
	})
}
