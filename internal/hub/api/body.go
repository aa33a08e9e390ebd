package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// decode reads a JSON body of at most limit bytes, as sent and as
// inflated, within timeout, into v. Unknown fields and anything after the
// JSON value are refused. Its errors map to 400, 408, 413 and 415.
func decode(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration, v any) error {
	body, err := readRaw(w, r, limit, timeout)
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

// readRaw reads a body of at most limit bytes, as sent and as inflated,
// within timeout. Its errors map to 408, 413 and 415.
func readRaw(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, error) {
	encoding := r.Header.Get("Content-Encoding")
	if err := checkEncoding(encoding); err != nil {
		return nil, err
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if timeout > 0 {
		rc := http.NewResponseController(w)
		// Errors mean the writer cannot set deadlines (a test recorder);
		// the connection's own limits then hold.
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		// Cleared once read: on HTTP/1 a deadline left behind would cancel
		// the request while the hub works on it.
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, limit), encoding, limit)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &httpError{code: http.StatusRequestTimeout, reason: "Timeout", msg: fmt.Sprintf("request body was not received within %s", timeout), cause: err}
		}
		return nil, err
	}
	return body, nil
}

// readBody reads what body inflates to under encoding, which
// checkEncoding accepted. It never returns more than limit bytes: past
// that it fails with http.MaxBytesError.
func readBody(body io.Reader, encoding string, limit int64) ([]byte, error) {
	if encoding == "gzip" {
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		if err := zr.Reset(body); err != nil {
			return nil, readError(err, "request body is not valid gzip")
		}
		body = zr
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, readError(err, "request body is not valid gzip")
	}
	if int64(len(b)) > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return b, nil
}

func checkEncoding(encoding string) error {
	switch encoding {
	case "", "identity", "gzip":
		return nil
	}
	return &httpError{code: http.StatusUnsupportedMediaType, reason: "UnsupportedMediaType", msg: "unsupported Content-Encoding " + encoding + " (want gzip or none)"}
}

// readError passes on the errors that say the body was too large or too
// slow; any other is a malformed body.
func readError(err error, msg string) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return badRequest(msg+": "+err.Error(), err)
}

// decodeJSON decodes exactly one JSON value, with no unknown fields.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body is not valid JSON for this endpoint: "+err.Error(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body has data after its JSON value", err)
	}
	return nil
}

// gzipReaders are reused: a reader's window is most of what one costs.
var gzipReaders sync.Pool
