package api

import (
	"net/http"
	"strconv"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// releaseUploadTimeout bounds receiving one agent build: tens of
// megabytes over an operator's link, not a connection held for ever.
const releaseUploadTimeout = 10 * time.Minute

// pushRelease takes an agent build as the body and its definition as the
// query: POST /v1/releases?version=V&arch=A&target=S&targetGroup=G.
func (s *server) pushRelease(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	spec := wire.ReleaseSpec{Version: q.Get("version"), Arch: q.Get("arch"), Targets: q["target"], TargetGroups: q["targetGroup"]}
	binary, err := readRaw(w, r, wire.MaxReleaseSize, releaseUploadTimeout)
	if err != nil {
		return err
	}
	info, err := s.hub.PushRelease(r.Context(), spec, binary)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, info)
	return nil
}

// release serves the agent release its manifest names:
// GET /v1/agent/release?digest=D&from=F, F being the digest of the build
// the agent runs. The body is a delta from F or the build gzipped whole,
// as the Flotilla-Release-Encoding header says; the agent checks the
// digest of what it makes.
func (s *server) release(w http.ResponseWriter, r *http.Request, clusterID string) error {
	q := r.URL.Query()
	digest, from := q.Get("digest"), q.Get("from")
	if !wire.ValidHash(digest) || (from != "" && !wire.ValidHash(from)) {
		return badRequest("digest and from must be hex SHA-256 digests", nil)
	}
	data, encoding, err := s.hub.ReleaseDownload(r.Context(), clusterID, digest, from)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(wire.ReleaseEncodingHeader, encoding)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
	return nil
}
