package egress

import "time"

// Default limits. A chart repository that answers at all answers within
// seconds; these only stop one that does not from holding a render.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 15 * time.Second
	// DefaultTimeout bounds a whole request, body included: a 16 MiB index
	// at 1 MB/s fits with room to spare.
	DefaultTimeout      = 60 * time.Second
	DefaultMaxRedirects = 5
)

// maxResponseHeaderBytes bounds a response's header block; Go's default
// is 10 MB, and a chart repository sends a few hundred bytes.
const maxResponseHeaderBytes = 64 << 10

// Policy is what a render may fetch and how long a request may take. It
// is plain data, so it can travel with render options to another process
// as JSON. The zero Policy is the safe default: public addresses only and
// the default limits; a zero or negative field means its default.
type Policy struct {
	// AllowHosts are the operator's patterns (see Allowlist), from
	// `flotilla hub --allow-chart-host`: hosts that may be fetched from
	// even when they are not public.
	AllowHosts            []string      `json:",omitempty"`
	DialTimeout           time.Duration `json:",omitempty"`
	TLSHandshakeTimeout   time.Duration `json:",omitempty"`
	ResponseHeaderTimeout time.Duration `json:",omitempty"`
	// Timeout bounds a whole request, redirects and body included
	// (`flotilla hub --chart-fetch-timeout`).
	Timeout      time.Duration `json:",omitempty"`
	MaxRedirects int           `json:",omitempty"`
}

// Validate checks the allow patterns, so that a hub can refuse a bad
// --allow-chart-host when it starts rather than at the first render.
func (p Policy) Validate() error {
	_, err := ParseAllowlist(p.AllowHosts)
	return err
}

func (p Policy) withDefaults() Policy {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.DialTimeout, DefaultDialTimeout)
	def(&p.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	def(&p.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	def(&p.Timeout, DefaultTimeout)
	if p.MaxRedirects <= 0 {
		p.MaxRedirects = DefaultMaxRedirects
	}
	return p
}
