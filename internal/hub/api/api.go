// Package api serves the hub over HTTP: the agent protocol (enrollment,
// long-poll manifests, objects by hash, status) behind mTLS, and the
// operator REST API behind a bearer token. Handlers decode, authenticate and
// encode; the hub package decides. Each kind of caller has its own budget
// (Limits), so that no stranger or operator ever delays an agent.
package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/hub"
)

// Body limits, as sent and as inflated. A request over its limit is
// refused with 413 before it is decoded.
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
	// Metrics is served at /metrics behind the operator token, if set.
	Metrics http.Handler
	// Limits bound each kind of caller; zero fields take defaults.
	Limits Limits
	// Now is the clock rate limits read; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

type server struct {
	hub       *hub.Hub
	adminHash []byte
	log       *slog.Logger
	now       func() time.Time
	limits    Limits
	// One pool per kind of caller: none waits behind another's.
	agents, enrollments, operators *pool
	// enrollRate limits enrollments per source address; nil when off.
	enrollRate *sourceLimiter
	polls      *polls
}

// New returns the hub's HTTP handler. It must be served over TLS with
// client certificates requested (tls.VerifyClientCertIfGiven) and verified
// against the hub CA: agent routes rely on r.TLS.VerifiedChains.
func New(opts Options) http.Handler {
	s := newServer(opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	mux.Handle("POST /v1/enroll", s.handle(s.enroll))
	mux.Handle("GET /v1/agent/manifest", s.agent(s.manifest))
	mux.Handle("POST /v1/agent/objects", s.agent(s.objects))
	mux.Handle("POST /v1/agent/status", s.agent(s.status))
	// Downloads take no agent slot: they wait on a delta being made and
	// then on the link, not on the hub, and share cached bytes.
	mux.Handle("GET /v1/agent/release", s.agent(s.release))

	if opts.Metrics != nil {
		mux.Handle("GET /metrics", s.operator(func(w http.ResponseWriter, r *http.Request) error {
			opts.Metrics.ServeHTTP(w, r)
			return nil
		}))
	}
	mux.Handle("GET /v1/clusters", s.operator(list(s.hub.Clusters)))
	mux.Handle("GET /v1/bundles", s.operator(list(s.hub.Bundles)))
	mux.Handle("GET /v1/sources", s.operator(list(s.hub.Sources)))
	mux.Handle("POST /v1/sources", s.operator(s.addSource))
	mux.Handle("DELETE /v1/sources/{name}", s.operator(s.deleteSource))
	mux.Handle("GET /v1/groups", s.operator(list(s.hub.Groups)))
	mux.Handle("POST /v1/groups", s.operator(s.putGroup))
	mux.Handle("DELETE /v1/groups/{name}", s.operator(s.deleteGroup))
	mux.Handle("GET /v1/releases", s.operator(list(s.hub.Releases)))
	mux.Handle("POST /v1/releases", s.operator(s.pushRelease))
	mux.Handle("GET /v1/tokens", s.operator(list(s.hub.Tokens)))
	mux.Handle("POST /v1/tokens", s.operator(s.createToken))
	return mux
}

func newServer(opts Options) *server {
	l := opts.Limits.withDefaults()
	s := &server{
		hub: opts.Hub, adminHash: opts.AdminTokenHash, log: opts.Logger, now: opts.Now, limits: l,
		agents:      newPool(l.MaxAgentInFlight, l.QueueWait, "agent requests", "--max-agent-in-flight"),
		enrollments: newPool(l.MaxEnrollInFlight, l.QueueWait, "enrollments", "--max-enroll-in-flight"),
		operators:   newPool(l.MaxOperatorInFlight, l.QueueWait, "operator requests", "--max-operator-in-flight"),
		polls:       newPolls(),
	}
	if l.EnrollRate > 0 {
		s.enrollRate = newSourceLimiter(l.EnrollRate, l.EnrollBurst, l.RateSources)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// operator wraps a handler with bearer-token authentication.
func (s *server) operator(fn handlerFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || len(s.adminHash) == 0 || subtle.ConstantTimeCompare(sum[:], s.adminHash) != 1 {
			return &httpError{code: http.StatusUnauthorized, reason: "Unauthorized", msg: "a valid operator bearer token is required"}
		}
		release, err := s.operators.acquire(r.Context())
		if err != nil {
			return err
		}
		defer release()
		return fn(w, r)
	})
}
