package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// enroll serves the one route open to callers the hub does not know yet.
// They are held to a rate per source address before anything is read, to
// a short deadline while their body is read, and only then take a slot of
// their own pool: a slow sender holds a connection, never a slot, and no
// enrollment ever takes an agent's slot.
func (s *server) enroll(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowEnroll(r); err != nil {
		return err
	}
	var req wire.EnrollRequest
	if err := decode(w, r, maxEnrollBody, s.limits.UnauthBodyTimeout, &req); err != nil {
		return err
	}
	release, err := s.enrollments.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	resp, err := s.hub.Enroll(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, resp)
	return nil
}

// allowEnroll takes a token from the caller's source address, or refuses
// with 429 and how long to wait.
func (s *server) allowEnroll(r *http.Request) error {
	if s.enrollRate == nil {
		return nil
	}
	addr := remoteAddr(r)
	if s.limits.Exempt(addr) {
		return nil
	}
	src := SourcePrefix(addr)
	ok, wait := s.enrollRate.allow(src, s.now())
	if ok {
		return nil
	}
	wait = max(wait, time.Second)
	return &httpError{
		code: http.StatusTooManyRequests, reason: "RateLimited",
		msg: fmt.Sprintf("too many enrollments from %s: the limit is %g per second in bursts of %d (hub flags --enroll-rate, --enroll-burst); retry in %s",
			src, s.limits.EnrollRate, s.limits.EnrollBurst, wait.Round(time.Second)),
		retryAfter: wait,
	}
}

// remoteAddr is the address the request came from; the zero Addr when
// the server did not record one it can parse (all such share a bucket).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
