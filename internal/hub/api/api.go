// Package api serves the hub over HTTP: the agent protocol (enrollment,
// long-poll manifests, objects by hash, status) behind mTLS, and the
// operator REST API behind a bearer token. Handlers decode, authenticate and
// encode; the hub package decides.
package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"flotilla.io/flotilla/internal/hub"
)

// Body limits. A request over its limit is refused with 413 before it is
// decoded.
const (
	maxEnrollBody  = 64 << 10
	maxStatusBody  = 1 << 20
	maxObjectsBody = 1 << 20
	maxOpBody      = 64 << 10
)

// Options configure the handler.
type Options struct {
	Hub *hub.Hub
	// AdminTokenHash is the SHA-256 of the operator bearer token.
	AdminTokenHash []byte
	Logger         *slog.Logger
}

type server struct {
	hub       *hub.Hub
	adminHash []byte
	log       *slog.Logger
}

// New returns the hub's HTTP handler. It must be served over TLS with
// client certificates requested (tls.VerifyClientCertIfGiven) and verified
// against the hub CA: agent routes rely on r.TLS.VerifiedChains.
func New(opts Options) http.Handler {
	s := &server{hub: opts.Hub, adminHash: opts.AdminTokenHash, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	mux.Handle("POST /v1/enroll", s.handle(s.enroll))
	mux.Handle("GET /v1/agent/manifest", s.agent(s.manifest))
	mux.Handle("POST /v1/agent/objects", s.agent(s.objects))
	mux.Handle("POST /v1/agent/status", s.agent(s.status))

	mux.Handle("GET /v1/clusters", s.operator(list(s.hub.Clusters)))
	mux.Handle("GET /v1/bundles", s.operator(list(s.hub.Bundles)))
	mux.Handle("GET /v1/sources", s.operator(list(s.hub.Sources)))
	mux.Handle("POST /v1/sources", s.operator(s.addSource))
	mux.Handle("DELETE /v1/sources/{name}", s.operator(s.deleteSource))
	mux.Handle("GET /v1/tokens", s.operator(list(s.hub.Tokens)))
	mux.Handle("POST /v1/tokens", s.operator(s.createToken))
	return mux
}

// operator wraps a handler with bearer-token authentication.
func (s *server) operator(fn handlerFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || len(s.adminHash) == 0 || subtle.ConstantTimeCompare(sum[:], s.adminHash) != 1 {
			return &httpError{code: http.StatusUnauthorized, reason: "Unauthorized", msg: "a valid operator bearer token is required"}
		}
		return fn(w, r)
	})
}
