package gitsource

import (
	"errors"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// ErrBranchNotFound is returned when the remote has no such branch.
var ErrBranchNotFound = errors.New("branch not found")

// sanitizedError carries a message with the URL's credentials removed. Its
// cause stays reachable for errors.Is and errors.As, but only the sanitized
// text is printed.
type sanitizedError struct {
	msg   string
	cause error
}

func (e *sanitizedError) Error() string { return e.msg }
func (e *sanitizedError) Unwrap() error { return e.cause }

// sanitize returns err with every form of ep's password removed from its
// message. go-git quotes request URLs in some errors.
func sanitize(err error, ep *transport.Endpoint) error {
	if err == nil {
		return nil
	}
	msg := redactUserinfo(err.Error())
	if ep != nil && ep.Password != "" {
		for _, secret := range []string{ep.Password, url.QueryEscape(ep.Password), url.PathEscape(ep.Password)} {
			msg = strings.ReplaceAll(msg, secret, "redacted")
		}
	}
	return &sanitizedError{msg: msg, cause: err}
}
