package egress

import (
	"errors"
	"fmt"
	"time"
)

// TimeoutError is a request that ran into one of the policy's time limits.
type TimeoutError struct {
	What  string // "connecting to charts.example", "waiting for response headers", ...
	Limit time.Duration
	// Flag raises the limit, when the operator can.
	Flag string
}

func (e *TimeoutError) Error() string {
	if e.Flag != "" {
		return fmt.Sprintf("timed out %s (limit %s; raise with %s)", e.What, e.Limit, e.Flag)
	}
	return fmt.Sprintf("timed out %s (limit %s)", e.What, e.Limit)
}

// Timeout says so to callers that test for net.Error.
func (e *TimeoutError) Timeout() bool { return true }

// ErrTooLarge is a response body over the caller's limit; the caller
// names the limit and how to raise it.
var ErrTooLarge = errors.New("response larger than the limit")

// RedirectError is a redirect the policy does not follow.
type RedirectError struct {
	Reason string
}

func (e *RedirectError) Error() string { return e.Reason }
