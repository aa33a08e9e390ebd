package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/wire"
)

// httpError keeps what the client is told apart from the cause the server logs.
type httpError struct {
	code   int
	reason string
	msg    string
	cause  error
	// retryAfter, when set, is sent as Retry-After (whole seconds, at
	// least one).
	retryAfter time.Duration
}

func (e *httpError) Error() string { return e.msg }

func (e *httpError) Unwrap() error { return e.cause }

type handlerFunc func(http.ResponseWriter, *http.Request) error

// handle turns a handler's error into a JSON error response.
func (s *server) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil || (errors.Is(err, context.Canceled) && r.Context().Err() != nil) {
			return // done, or the caller went away and reads no answer
		}
		he := toHTTPError(err)
		switch {
		case he.code == http.StatusTooManyRequests || he.code == http.StatusServiceUnavailable || he.reason == reasonSuperseded:
			// Refusals that protect the hub come in floods, and so do
			// long-polls that two devices with one identity take from
			// each other (logReplaced warns of those): logging each at
			// Info would let a flood fill the log.
			s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", he.code, "reason", he.reason)
		case he.code >= 500:
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		default:
			s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "code", he.code, "reason", he.reason, "err", err)
		}
		if he.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((he.retryAfter+time.Second-1)/time.Second)))
		}
		writeJSON(w, r, he.code, wire.Error{Reason: he.reason, Message: he.msg})
	})
}

func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &httpError{code: http.StatusRequestEntityTooLarge, reason: "TooLarge", msg: fmt.Sprintf("request body is larger than its limit of %d bytes", tooLarge.Limit), cause: err}
	}
	var de *hub.Error
	if errors.As(err, &de) {
		switch de.Kind {
		case hub.Invalid:
			return &httpError{code: http.StatusBadRequest, reason: "Invalid", msg: de.Msg, cause: err}
		case hub.Unauthorized:
			return &httpError{code: http.StatusUnauthorized, reason: "Unauthorized", msg: de.Msg, cause: err}
		case hub.NotFound:
			return &httpError{code: http.StatusNotFound, reason: "NotFound", msg: de.Msg, cause: err}
		case hub.Conflict:
			return &httpError{code: http.StatusConflict, reason: "Conflict", msg: de.Msg, cause: err}
		}
	}
	return &httpError{code: http.StatusInternalServerError, reason: "Internal", msg: "internal error", cause: err}
}

func badRequest(msg string, cause error) error {
	return &httpError{code: http.StatusBadRequest, reason: "Invalid", msg: msg, cause: cause}
}
