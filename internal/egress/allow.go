package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Allowlist holds the operator's allow patterns: a host name
// (charts.internal), a *.suffix glob (*.corp.example: any name below it,
// not the suffix itself), an IP address or a CIDR prefix. A name pattern
// trusts whatever the name resolves to; an address pattern allows those
// addresses whatever name led to them. The zero Allowlist allows nothing.
type Allowlist struct {
	names    map[string]bool
	suffixes []string // each with its leading dot: ".corp.example"
	prefixes []netip.Prefix
}

// ParseAllowlist checks and compiles patterns; the error names the flag
// (--allow-chart-host) and the first bad pattern, so callers return it as
// it is.
func ParseAllowlist(patterns []string) (*Allowlist, error) {
	a := &Allowlist{names: map[string]bool{}}
	for _, p := range patterns {
		if err := a.add(p); err != nil {
			return nil, fmt.Errorf("--allow-chart-host %q: %w", p, err)
		}
	}
	return a, nil
}

func (a *Allowlist) add(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if strings.Contains(p, "/") {
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			return errors.New("not a host name, *.suffix, IP address or CIDR prefix")
		}
		if pre.Addr().Zone() != "" {
			return errors.New("a prefix has no zone")
		}
		a.prefixes = append(a.prefixes, canonicalPrefix(pre))
		return nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(p, "[]")); err == nil {
		ip = canonicalAddr(ip)
		a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		return nil
	}
	name := normalizeName(p)
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if err := checkName(rest); err != nil {
			return err
		}
		a.suffixes = append(a.suffixes, "."+rest)
		return nil
	}
	if err := checkName(name); err != nil {
		return err
	}
	a.names[name] = true
	return nil
}

// checkName accepts what can reach a dialer as a host name: ASCII labels
// of letters, digits, '-' and '_' (seen in the wild), 1 to 63 bytes each.
func checkName(name string) error {
	if len(name) > 253 {
		return errors.New("host name longer than 253 bytes")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("not a host name, *.suffix, IP address or CIDR prefix (no scheme, port or path)")
		}
		for _, r := range label {
			ok := r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
			if !ok {
				return fmt.Errorf("%q is not allowed in a host name (no scheme, port, path or '*' but a leading '*.'; write international names in punycode)", r)
			}
		}
	}
	return nil
}

// normalizeName is how names are compared: lower case, no final dot.
func normalizeName(s string) string {
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// canonicalAddr drops the zone and reduces IPv4-mapped forms, so a
// pattern and a dialled address compare alike.
func canonicalAddr(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

func canonicalPrefix(p netip.Prefix) netip.Prefix {
	addr, bits := p.Addr().WithZone(""), p.Bits()
	if addr.Is4In6() && bits >= 96 {
		addr, bits = addr.Unmap(), bits-96
	}
	return netip.PrefixFrom(addr, bits).Masked()
}

// AllowsName reports whether a host name (as dialled: ASCII) matches a
// name or suffix pattern. IP literals match only address patterns.
func (a *Allowlist) AllowsName(host string) bool {
	if a == nil {
		return false
	}
	name := normalizeName(host)
	if a.names[name] {
		return true
	}
	for _, s := range a.suffixes {
		if len(name) > len(s) && strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// AllowsAddr reports whether an address matches an IP or CIDR pattern.
func (a *Allowlist) AllowsAddr(ip netip.Addr) bool {
	if a == nil {
		return false
	}
	ip = canonicalAddr(ip)
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
