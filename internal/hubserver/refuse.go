package hubserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strconv"

	"flotilla.io/flotilla/internal/wire"
)

// refusalKey marks the context of a connection past its cap with what it
// is told.
type refusalKey struct{}

// connContext carries a refused connection's message to its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ctx
	}
	if lc, ok := tc.NetConn().(*limitedConn); ok && lc.kind == refusedConn {
		return context.WithValue(ctx, refusalKey{}, lc.refusal)
	}
	return ctx
}

// answerRefused answers every request on a refused connection with 429,
// a message naming the limit, and Connection: close (a GOAWAY on HTTP/2),
// so that a client learns why instead of seeing its connection drop.
func answerRefused(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, ok := r.Context().Value(refusalKey{}).(string)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := json.Marshal(wire.Error{Reason: "TooManyConnections", Message: msg})
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", strconv.Itoa(int(refusalLifetime.Seconds())))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(body)
	})
}
