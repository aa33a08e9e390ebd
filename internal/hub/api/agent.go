package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"flotilla.io/flotilla/internal/wire"
)

type agentHandlerFunc func(w http.ResponseWriter, r *http.Request, clusterID string) error

// agent wraps a handler that needs a verified client certificate: its
// common name is the cluster ID and its serial must be the one on record.
// Object fetches and status posts then take a slot of the agent pool, but
// only once their body is read, as enrollments do: a slow sender (a slow
// link, or a stolen certificate) holds a connection, never a slot.
// Long-polls and downloads take none.
func (s *server) agent(fn agentHandlerFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return &httpError{code: http.StatusUnauthorized, reason: "Unauthorized", msg: "a client certificate issued by this hub is required"}
		}
		if v := r.Header.Get(wire.ProtocolHeader); v != "" {
			if n, err := strconv.Atoi(v); err != nil || !wire.SupportedProtocol(n) {
				return badRequest(fmt.Sprintf("unsupported protocol version %.16q (this hub serves %d to %d)", v, wire.MinProtocolVersion, wire.ProtocolVersion), nil)
			}
		}
		leaf := r.TLS.VerifiedChains[0][0]
		id := leaf.Subject.CommonName
		if err := s.hub.Authenticate(r.Context(), id, leaf.SerialNumber.Text(16)); err != nil {
			return err
		}
		if err := s.hub.Seen(r.Context(), id); err != nil {
			return err
		}
		return fn(w, r, id)
	})
}

func (s *server) manifest(w http.ResponseWriter, r *http.Request, clusterID string) error {
	have := int64(0)
	if v := r.URL.Query().Get("have"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return badRequest("have must be a non-negative generation", err)
		}
		have = n
	}
	base := r.URL.Query().Get("base")
	if base != "" && !wire.ValidHash(base) {
		return badRequest("base must be the hex SHA-256 of manifest content", nil)
	}
	ctx, replaced, release := s.polls.hold(r.Context(), clusterID, r.RemoteAddr)
	defer release()
	if replaced != nil {
		s.logReplaced(clusterID, r.RemoteAddr, replaced)
	}
	answer, ok, err := s.hub.WaitManifest(ctx, clusterID, have, base)
	if err != nil {
		if errors.Is(context.Cause(ctx), errSuperseded) {
			return supersededError()
		}
		return err // context.Canceled when the agent went away: handle writes nothing
	}
	if !ok {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	if !acceptsGzip(r) {
		_, _ = w.Write(answer.Head)
		_, _ = w.Write(answer.Tail.JSON)
		return nil
	}
	// Two gzip members: the cluster's own head, compressed here, and the
	// tail its group shares, compressed once by the hub.
	head := gzipBytes(answer.Head)
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	_, _ = w.Write(head)
	_, _ = w.Write(answer.Tail.Gzip)
	return nil
}

// logReplaced says that a long-poll from remote replaced one. Two devices
// with one identity that ignore Retry-After replace each other in a
// loop: that is warned of at most once per cluster per replacedWarnEvery,
// and the rest logged at Debug, so that they cannot flood the log.
func (s *server) logReplaced(clusterID, remote string, replaced *heldPoll) {
	switch {
	case !replaced.took:
		s.log.Info("long-poll replaced an older one", "cluster", clusterID, "remote", remote, "replaced", replaced.remote)
	case s.polls.warnDue(clusterID, s.now()):
		s.log.Warn("long-polls for one cluster keep replacing each other: a cloned device?", "cluster", clusterID, "remote", remote, "replaced", replaced.remote)
	default:
		s.log.Debug("long-poll replaced another that had replaced one", "cluster", clusterID, "remote", remote, "replaced", replaced.remote)
	}
}

func (s *server) objects(w http.ResponseWriter, r *http.Request, clusterID string) error {
	var req wire.ObjectsRequest
	if err := decode(w, r, maxObjectsBody, s.limits.BodyTimeout, &req); err != nil {
		return err
	}
	for _, h := range req.Hashes {
		if !wire.ValidHash(h) {
			return badRequest("malformed object hash", nil)
		}
	}
	release, err := s.agents.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	objs, err := s.hub.Objects(r.Context(), clusterID, req.Hashes)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, wire.ObjectsResponse{Objects: wire.RawObjects(objs)})
	return nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request, clusterID string) error {
	var rep wire.StatusReport
	if err := decode(w, r, maxStatusBody, s.limits.BodyTimeout, &rep); err != nil {
		return err
	}
	release, err := s.agents.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	if err := s.hub.ReportStatus(r.Context(), clusterID, rep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
