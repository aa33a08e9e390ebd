package hubserver

import (
	"time"

	"flotilla.io/flotilla/internal/hub/api"
)

// Limits bound what connections can make the hub hold before and after
// it knows who is calling. A zero field takes the default named beside
// it; a negative one turns that limit off (MaxHeaderBytes: Go's 1 MiB).
// The flag named is the hub flag suggested to set it; refusals name it.
type Limits struct {
	// HandshakeTimeout bounds a TLS handshake, which the listener runs in
	// a goroutine of its own per connection. Default 10 s;
	// --tls-handshake-timeout.
	HandshakeTimeout time.Duration
	// MaxHandshakesPerAddr bounds the handshakes in progress from one
	// source address (an IPv4 address, an IPv6 /64): until a handshake
	// ends the hub cannot tell an agent from a stranger, and each costs a
	// file descriptor. Default 256, so that a site of agents behind one
	// NAT address reconnecting after an outage is not refused;
	// --max-handshakes-per-addr.
	MaxHandshakesPerAddr int
	// MaxUnauthConnsPerAddr bounds the open connections from one source
	// address that presented no client certificate the hub honours
	// (enrollments, operators, strangers). Connections with one are never
	// counted: many agents may share one NAT address. Past it a connection
	// is answered once with 429 and closed. Default 32;
	// --max-unauth-conns-per-addr.
	MaxUnauthConnsPerAddr int
	// MaxUnauthConns bounds those connections over all addresses.
	// Default 2048; --max-unauth-conns.
	MaxUnauthConns int
	// ReadHeaderTimeout bounds reading an HTTP/1 request's headers.
	// Default 10 s. Bodies have their own deadlines (Requests).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection with no request in flight.
	// Default 2 min.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (HTTP/1 and HTTP/2).
	// Default 64 KiB.
	MaxHeaderBytes int
	// Requests are the limits per kind of caller, including the source
	// prefixes exempt from every per-address limit (NoLimitFrom); the
	// hub-wide ones (MaxUnauthConns) count them still.
	Requests api.Limits
}

// Defaults; see Limits.
const (
	DefaultHandshakeTimeout      = 10 * time.Second
	DefaultMaxHandshakesPerAddr  = 256
	DefaultMaxUnauthConnsPerAddr = 32
	DefaultMaxUnauthConns        = 2048
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultIdleTimeout           = 2 * time.Minute
	DefaultMaxHeaderBytes        = 64 << 10
)

// Refused connections are answered once, then closed: at most this many
// at a time per source address and in all, each for at most
// refusalLifetime. Past these a connection is closed unanswered.
const (
	maxRefusalsPerAddr = 4
	maxRefusals        = 64
	refusalLifetime    = 5 * time.Second
)

func (l Limits) withDefaults() Limits {
	l.HandshakeTimeout = api.OrDefault(l.HandshakeTimeout, DefaultHandshakeTimeout)
	l.MaxHandshakesPerAddr = api.OrDefault(l.MaxHandshakesPerAddr, DefaultMaxHandshakesPerAddr)
	l.MaxUnauthConnsPerAddr = api.OrDefault(l.MaxUnauthConnsPerAddr, DefaultMaxUnauthConnsPerAddr)
	l.MaxUnauthConns = api.OrDefault(l.MaxUnauthConns, DefaultMaxUnauthConns)
	l.ReadHeaderTimeout = api.OrDefault(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	l.IdleTimeout = api.OrDefault(l.IdleTimeout, DefaultIdleTimeout)
	l.MaxHeaderBytes = api.OrDefault(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	return l
}

// under says whether n is below limit; a negative limit is no limit.
func under(n, limit int) bool { return limit < 0 || n < limit }

// positive turns "off" (negative) into no timeout for http.Server.
func positive(d time.Duration) time.Duration { return max(d, 0) }
