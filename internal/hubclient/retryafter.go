package hubclient

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what a hub can ask for: a bad header must not park an
// agent for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header (RFC 9110: delay-seconds or an
// HTTP-date, taken relative to now). It returns 0 when the header is
// absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// RetryAfter returns how long the hub asked the client to wait before the
// next request (429, 503 or 409 with Retry-After), or 0.
func RetryAfter(err error) time.Duration {
	var he *Error
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}
