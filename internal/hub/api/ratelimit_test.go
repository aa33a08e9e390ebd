package api

import (
	"net/netip"
	"testing"
	"time"
)

func TestSourcePrefix(t *testing.T) {
	tests := []struct{ name, addr, want string }{
		{"ipv4", "192.0.2.7", "192.0.2.7/32"},
		{"ipv4 mapped in ipv6", "::ffff:192.0.2.7", "192.0.2.7/32"},
		{"ipv6 counts by /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"ipv6 zone dropped", "fe80::1%eth0", "fe80::/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SourcePrefix(netip.MustParseAddr(tc.addr)).String(); got != tc.want {
				t.Errorf("SourcePrefix(%s) = %s, want %s", tc.addr, got, tc.want)
			}
		})
	}
}

func TestSourceLimiter(t *testing.T) {
	a := netip.MustParsePrefix("192.0.2.1/32")
	b := netip.MustParsePrefix("192.0.2.2/32")
	t0 := time.Unix(1_000_000, 0)
	l := newSourceLimiter(2, 3, 100)

	for i := range 3 {
		if ok, _ := l.allow(a, t0); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.allow(a, t0)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("past the burst: allowed %v, wait %v; want refused with a wait of at most 1/rate", ok, wait)
	}
	if ok, _ := l.allow(b, t0); !ok {
		t.Error("another address was refused: buckets are per address")
	}
	if ok, _ := l.allow(a, t0.Add(wait)); !ok {
		t.Error("refused after waiting what the limiter said")
	}
	if ok, _ := l.allow(a, t0.Add(wait)); ok {
		t.Error("a second request at the same instant was allowed: one token refilled")
	}
}

func TestSourceLimiterIsBounded(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	l := newSourceLimiter(1, 1, 10)
	first := netip.MustParsePrefix("10.0.0.0/32")
	l.allow(first, t0)
	if ok, _ := l.allow(first, t0); ok {
		t.Fatal("burst of one allowed twice")
	}
	for i := 1; i <= 50; i++ {
		l.allow(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32), t0)
		if n := l.len(); n > 10 {
			t.Fatalf("remembers %d addresses, bound is 10", n)
		}
	}
	// The first was forgotten, least recently seen: it starts full again.
	if ok, _ := l.allow(first, t0); !ok {
		t.Error("the forgotten address is still limited")
	}
}
