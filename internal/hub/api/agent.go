package api

import (
	"net/http"
	"strconv"

	"flotilla.io/flotilla/internal/wire"
)

type agentHandlerFunc func(w http.ResponseWriter, r *http.Request, clusterID string) error

// agent wraps a handler that needs a verified client certificate: its
// common name is the cluster ID and its serial must be the one on record.
func (s *server) agent(fn agentHandlerFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return &httpError{code: http.StatusUnauthorized, reason: "Unauthorized", msg: "a client certificate issued by this hub is required"}
		}
		if v := r.Header.Get(wire.ProtocolHeader); v != "" && v != strconv.Itoa(wire.ProtocolVersion) {
			return badRequest("unsupported protocol version "+v, nil)
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

func (s *server) enroll(w http.ResponseWriter, r *http.Request) error {
	var req wire.EnrollRequest
	if err := decode(w, r, maxEnrollBody, &req); err != nil {
		return err
	}
	resp, err := s.hub.Enroll(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, resp)
	return nil
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
	answer, ok, err := s.hub.WaitManifest(r.Context(), clusterID, have, base)
	if err != nil {
		if r.Context().Err() != nil {
			return nil // the agent went away
		}
		return err
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

func (s *server) objects(w http.ResponseWriter, r *http.Request, clusterID string) error {
	var req wire.ObjectsRequest
	if err := decode(w, r, maxObjectsBody, &req); err != nil {
		return err
	}
	for _, h := range req.Hashes {
		if !wire.ValidHash(h) {
			return badRequest("malformed object hash", nil)
		}
	}
	objs, err := s.hub.Objects(r.Context(), clusterID, req.Hashes)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, wire.ObjectsResponse{Objects: wire.RawObjects(objs)})
	return nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request, clusterID string) error {
	var rep wire.StatusReport
	if err := decode(w, r, maxStatusBody, &rep); err != nil {
		return err
	}
	if err := s.hub.ReportStatus(r.Context(), clusterID, rep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
