package renderworker

import (
	"errors"

	"flotilla.io/flotilla/internal/render"
)

// wireError is a render error as it crosses from a worker: its message,
// where in the checkout it is located, and the limit it reports, so that
// the pool's caller gets an error that reads and unwraps (to *render.Error
// and *render.LimitError) as the in-process one does.
type wireError struct {
	// Msg is the message, without the location when Located.
	Msg     string             `json:"msg"`
	Located bool               `json:"located,omitempty"`
	File    string             `json:"file,omitempty"`
	Line    int                `json:"line,omitempty"`
	Limit   *render.LimitError `json:"limit,omitempty"`
}

func toWire(err error) *wireError {
	w := &wireError{Msg: err.Error()}
	if re, ok := err.(*render.Error); ok {
		w.Located, w.File, w.Line, w.Msg = true, re.File, re.Line, re.Err.Error()
	}
	var le *render.LimitError
	if errors.As(err, &le) {
		w.Limit = le
	}
	return w
}

func (w *wireError) err() error {
	var inner error = &remoteError{msg: w.Msg, limit: w.Limit}
	if w.Limit != nil && w.Limit.Error() == w.Msg {
		inner = w.Limit
	}
	if w.Located {
		return &render.Error{File: w.File, Line: w.Line, Err: inner}
	}
	return inner
}

// remoteError is an error from a worker: its message, and the limit it
// reports, if any.
type remoteError struct {
	msg   string
	limit *render.LimitError
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() error {
	if e.limit == nil {
		return nil
	}
	return e.limit
}
