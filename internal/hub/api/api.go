// Package api serves the hub over HTTP: the agent protocol (enrollment,
// long-poll manifests, objects by hash, status) behind mTLS, and the
// operator REST API behind a bearer token. Handlers decode, authenticate and
// encode; the hub package decides.
package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/wire"
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
	// Metrics is served at /metrics behind the operator token, if set.
	Metrics http.Handler
	// MaxInFlight bounds concurrent enrollments, object fetches and status
	// posts (long-polls are not counted: they mostly wait). Past it the hub
	// sheds load with 503 and Retry-After; 0 means 256.
	MaxInFlight int
	// QueueWait is how long a request past MaxInFlight waits for a slot
	// before it is shed; 0 means one second.
	QueueWait time.Duration
	Logger    *slog.Logger
}

type server struct {
	hub       *hub.Hub
	adminHash []byte
	log       *slog.Logger
	// slots holds one token per request in flight; full means queue.
	slots     chan struct{}
	queueWait time.Duration
}

// New returns the hub's HTTP handler. It must be served over TLS with
// client certificates requested (tls.VerifyClientCertIfGiven) and verified
// against the hub CA: agent routes rely on r.TLS.VerifiedChains.
func New(opts Options) http.Handler {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = time.Second
	}
	s := &server{hub: opts.Hub, adminHash: opts.AdminTokenHash, log: opts.Logger, slots: make(chan struct{}, opts.MaxInFlight), queueWait: opts.QueueWait}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	mux.Handle("POST /v1/enroll", s.shed(s.handle(s.enroll)))
	mux.Handle("GET /v1/agent/manifest", s.agent(s.manifest))
	mux.Handle("POST /v1/agent/objects", s.shed(s.agent(s.objects)))
	mux.Handle("POST /v1/agent/status", s.shed(s.agent(s.status)))

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
	mux.Handle("GET /v1/tokens", s.operator(list(s.hub.Tokens)))
	mux.Handle("POST /v1/tokens", s.operator(s.createToken))
	return mux
}

// shed queues a request for up to queueWait when MaxInFlight requests are
// already being served, then answers 503 with Retry-After, so that a fleet
// reconnecting at once after an outage is spread out (agents back off with
// jitter and honour Retry-After) instead of queueing without bound. The
// short queue absorbs the burst after a commit, when thousands of agents
// report within a second and each report takes a millisecond: shedding
// those would only delay them by seconds.
func (s *server) shed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			t := time.NewTimer(s.queueWait)
			defer t.Stop()
			select {
			case s.slots <- struct{}{}:
			case <-r.Context().Done():
				return
			case <-t.C:
				w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(3)))
				writeJSON(w, r, http.StatusServiceUnavailable, wire.Error{Reason: "Overloaded", Message: "hub is shedding load; retry later"})
				return
			}
		}
		defer func() { <-s.slots }()
		next.ServeHTTP(w, r)
	})
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
