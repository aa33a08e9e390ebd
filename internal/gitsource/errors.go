package gitsource

import (
	"errors"
	"fmt"
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

// ErrRefusedTree marks a commit whose tree the fetcher refuses to check
// out: an entry that git itself would refuse, one that could write or
// point outside the checkout, or a tree past a limit.
var ErrRefusedTree = errors.New("tree refused")

// TreeError says which entry of a commit's tree was refused and by which
// rule. Nothing of the commit is written when it is returned.
type TreeError struct {
	Path   string // slash-separated path of the entry; empty for the whole tree
	Reason string
}

func (e *TreeError) Error() string {
	if e.Path == "" {
		return "tree refused: " + e.Reason
	}
	// Quoted: a hostile name may hold newlines or terminal escapes.
	return fmt.Sprintf("tree entry %q refused: %s", e.Path, e.Reason)
}

// Is makes every TreeError match ErrRefusedTree.
func (e *TreeError) Is(target error) bool { return target == ErrRefusedTree }

func refuse(path, format string, args ...any) *TreeError {
	return &TreeError{Path: path, Reason: fmt.Sprintf(format, args...)}
}
