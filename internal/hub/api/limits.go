package api

import (
	"net/netip"
	"time"
)

// Limits bound what each kind of caller can make the hub hold, so that
// unauthenticated traffic and operators never delay agents: each kind has
// its own pool of request slots, and unauthenticated callers also a rate
// per source address. A zero field takes the default named beside it; a
// negative one turns that limit off (QueueWait: no queue; EnrollBurst and
// RateSources only shape EnrollRate and take their default). The flag
// named is the hub flag suggested to set it; refusals name it.
type Limits struct {
	// MaxAgentInFlight bounds agents' object fetches and status posts
	// being served at once, counted once their body is read (long-polls
	// are not counted: they mostly wait). Default 256;
	// --max-agent-in-flight.
	MaxAgentInFlight int
	// QueueWait is how long a request past its pool's size waits for a
	// slot before it is shed with 503 and Retry-After. Default 1 s.
	QueueWait time.Duration
	// MaxEnrollInFlight bounds enrollments being served at once, counted
	// once their body is read: a slow sender holds a connection, never a
	// slot. Default 8; --max-enroll-in-flight.
	MaxEnrollInFlight int
	// MaxOperatorInFlight bounds operator API requests being served at
	// once. Default 32; --max-operator-in-flight.
	MaxOperatorInFlight int
	// EnrollRate is how many enrollments per second one source address
	// (an IPv4 address, an IPv6 /64) may start, in bursts of EnrollBurst.
	// Past it the hub answers 429 with Retry-After, which agents honour.
	// Defaults 2/s and 20: a site behind one NAT address enrolls 500
	// devices in about four minutes. --enroll-rate, --enroll-burst.
	EnrollRate  float64
	EnrollBurst int
	// RateSources bounds how many source addresses' rates are remembered;
	// the least recently seen is forgotten first (it comes back with a
	// full burst). Default 10,000 (about 1 MB).
	RateSources int
	// UnauthBodyTimeout bounds reading the body of a request sent before
	// the caller is known (enrollment). Default 10 s: 64 KiB at 6.5 kB/s.
	// --unauth-body-timeout.
	UnauthBodyTimeout time.Duration
	// BodyTimeout bounds reading the body of an agent's or an operator's
	// request. Default 2 min: a 1 MiB status report over a slow edge link.
	BodyTimeout time.Duration
	// NoLimitFrom lists source prefixes exempt from per-address limits:
	// a NAT gateway with a large fleet behind it, or the simulator's
	// loopback. Hub-wide limits and metrics count them still.
	// --no-limit-from CIDR (repeatable).
	NoLimitFrom []netip.Prefix
}

// Defaults; see Limits.
const (
	DefaultMaxAgentInFlight    = 256
	DefaultQueueWait           = time.Second
	DefaultMaxEnrollInFlight   = 8
	DefaultMaxOperatorInFlight = 32
	DefaultEnrollRate          = 2
	DefaultEnrollBurst         = 20
	DefaultRateSources         = 10_000
	DefaultUnauthBodyTimeout   = 10 * time.Second
	DefaultBodyTimeout         = 2 * time.Minute
)

// withDefaults fills zero fields with their defaults.
func (l Limits) withDefaults() Limits {
	l.MaxAgentInFlight = OrDefault(l.MaxAgentInFlight, DefaultMaxAgentInFlight)
	l.QueueWait = OrDefault(l.QueueWait, DefaultQueueWait)
	l.MaxEnrollInFlight = OrDefault(l.MaxEnrollInFlight, DefaultMaxEnrollInFlight)
	l.MaxOperatorInFlight = OrDefault(l.MaxOperatorInFlight, DefaultMaxOperatorInFlight)
	l.EnrollRate = OrDefault(l.EnrollRate, DefaultEnrollRate)
	l.EnrollBurst = OrDefault(max(l.EnrollBurst, 0), DefaultEnrollBurst)
	l.RateSources = OrDefault(max(l.RateSources, 0), DefaultRateSources)
	l.UnauthBodyTimeout = OrDefault(l.UnauthBodyTimeout, DefaultUnauthBodyTimeout)
	l.BodyTimeout = OrDefault(l.BodyTimeout, DefaultBodyTimeout)
	return l
}

// OrDefault is v, or def when v is zero: how a limit left unset takes
// its default (hubserver's limits fill theirs with it too).
func OrDefault[T int | float64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Exempt reports whether addr is in one of the NoLimitFrom prefixes.
func (l Limits) Exempt(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range l.NoLimitFrom {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// SourcePrefix is what per-address limits count by: an IPv4 address, or
// the /64 an IPv6 address is in (one host commonly holds a whole /64).
func SourcePrefix(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(64) // cannot fail for a valid IPv6 address
	return p
}
