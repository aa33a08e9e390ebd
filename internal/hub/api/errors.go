package api

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/wire"
)

// httpError keeps what the client is told apart from the cause the server logs.
type httpError struct {
	code   int
	reason string
	msg    string
	cause  error
}

func (e *httpError) Error() string { return e.msg }

func (e *httpError) Unwrap() error { return e.cause }

type handlerFunc func(http.ResponseWriter, *http.Request) error

// handle turns a handler's error into a JSON error response.
func (s *server) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		he := toHTTPError(err)
		if he.code >= 500 {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "code", he.code, "reason", he.reason, "err", err)
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
		return &httpError{code: http.StatusRequestEntityTooLarge, reason: "TooLarge", msg: "request body is too large", cause: err}
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

// decode reads a JSON body of at most limit bytes into v.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		if err := zr.Reset(r.Body); err != nil {
			return badRequest("request body is not valid gzip: "+err.Error(), err)
		}
		// The limit holds for what the body inflates to as well.
		body = &limitedReader{r: zr, limit: limit, left: limit}
	default:
		return &httpError{code: http.StatusUnsupportedMediaType, reason: "UnsupportedMediaType", msg: "unsupported Content-Encoding " + enc}
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("request body is not valid JSON for this endpoint: "+err.Error(), err)
	}
	return nil
}

// gzipReaders are reused: a reader's window is most of what one costs.
var gzipReaders sync.Pool

// limitedReader fails with http.MaxBytesError past left bytes.
type limitedReader struct {
	r           io.Reader
	limit, left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, &http.MaxBytesError{Limit: l.limit}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
