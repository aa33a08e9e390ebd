package egress

import "net/netip"

// Class says why an address is not public. The zero Class is a public
// address: the only kind dialled without an allow pattern.
type Class string

const (
	Public      Class = ""
	Loopback    Class = "loopback"
	LinkLocal   Class = "link-local"
	Private     Class = "private"
	CGNAT       Class = "carrier-grade NAT"
	Unspecified Class = "unspecified"
	Multicast   Class = "multicast"
	Broadcast   Class = "broadcast"
	// Reserved covers documentation, benchmarking, protocol-assignment
	// and future-use ranges: nothing a chart repository is served from.
	Reserved Class = "reserved"
)

// article gives the class with its indefinite article, for messages.
func (c Class) article() string {
	if c == Unspecified {
		return "an " + string(c)
	}
	return "a " + string(c)
}

type classRange struct {
	prefix netip.Prefix
	class  Class
}

// v4Ranges are IANA's special-purpose IPv4 ranges (RFC 6890 and later)
// that a public service never uses. Most specific first: 255.255.255.255
// lies inside 240.0.0.0/4.
var v4Ranges = []classRange{
	{netip.MustParsePrefix("255.255.255.255/32"), Broadcast},
	{netip.MustParsePrefix("0.0.0.0/8"), Unspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("100.64.0.0/10"), CGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved},
	{netip.MustParsePrefix("192.0.2.0/24"), Reserved},
	{netip.MustParsePrefix("192.88.99.0/24"), Reserved},
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved},
	{netip.MustParsePrefix("198.51.100.0/24"), Reserved},
	{netip.MustParsePrefix("203.0.113.0/24"), Reserved},
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved},
}

// v6Ranges are checked after the forms that embed an IPv4 address have
// been reduced to it. Outside 2000::/3 (global unicast) everything not
// listed is Reserved.
var v6Ranges = []classRange{
	{netip.MustParsePrefix("::/128"), Unspecified},
	{netip.MustParsePrefix("::1/128"), Loopback},
	{netip.MustParsePrefix("64:ff9b:1::/48"), Private}, // local-use NAT64, RFC 8215
	{netip.MustParsePrefix("fc00::/7"), Private},       // unique local
	{netip.MustParsePrefix("fe80::/10"), LinkLocal},
	{netip.MustParsePrefix("fec0::/10"), Private}, // site-local, deprecated
	{netip.MustParsePrefix("ff00::/8"), Multicast},
	{netip.MustParsePrefix("2001::/23"), Reserved}, // protocol assignments: Teredo, benchmarking, ORCHID
	{netip.MustParsePrefix("2001:db8::/32"), Reserved},
	{netip.MustParsePrefix("3fff::/20"), Reserved},
	{netip.MustParsePrefix("5f00::/16"), Reserved},
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	v4Compatible   = netip.MustParsePrefix("::/96")
)

// Classify says whether an address is public and, if not, what it is.
// IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64's well-known
// prefix, 6to4) are judged by the IPv4 address they lead to, so
// ::ffff:127.0.0.1 is loopback and 64:ff9b::8.8.8.8 is public.
func Classify(a netip.Addr) Class {
	a = a.WithZone("")
	if !a.IsValid() {
		return Reserved
	}
	if v4, ok := embeddedV4(a); ok {
		a = v4
	}
	if a.Is4() {
		return lookup(v4Ranges, a, Public)
	}
	c := lookup(v6Ranges, a, Public)
	if c == Public && !globalUnicast6.Contains(a) {
		return Reserved
	}
	return c
}

// embeddedV4 returns the IPv4 address an IPv6 address stands for.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	if a.Is4In6() {
		return a.Unmap(), true
	}
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case v4Compatible.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		// Deprecated IPv4-compatible form (::a.b.c.d): some stacks still
		// route it to the IPv4 address.
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}

func lookup(ranges []classRange, a netip.Addr, otherwise Class) Class {
	for _, r := range ranges {
		if r.prefix.Contains(a) {
			return r.class
		}
	}
	return otherwise
}
