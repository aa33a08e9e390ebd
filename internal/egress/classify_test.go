package egress

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want Class
	}{
		{name: "public v4", addr: "8.8.8.8", want: Public},
		{name: "public v6", addr: "2606:4700:4700::1111", want: Public},
		{name: "loopback", addr: "127.0.0.1", want: Loopback},
		{name: "loopback elsewhere in 127/8", addr: "127.10.0.3", want: Loopback},
		{name: "loopback v6", addr: "::1", want: Loopback},
		{name: "cloud metadata", addr: "169.254.169.254", want: LinkLocal},
		{name: "link-local v6 with zone", addr: "fe80::1%eth0", want: LinkLocal},
		{name: "rfc1918 10", addr: "10.1.2.3", want: Private},
		{name: "rfc1918 172.16", addr: "172.31.255.255", want: Private},
		{name: "just outside 172.16/12", addr: "172.32.0.1", want: Public},
		{name: "rfc1918 192.168", addr: "192.168.1.1", want: Private},
		{name: "ula", addr: "fd00::1", want: Private},
		{name: "site-local", addr: "fec0::1", want: Private},
		{name: "cgnat", addr: "100.64.0.1", want: CGNAT},
		{name: "just outside cgnat", addr: "100.128.0.1", want: Public},
		{name: "unspecified v4", addr: "0.0.0.0", want: Unspecified},
		{name: "this network", addr: "0.1.2.3", want: Unspecified},
		{name: "unspecified v6", addr: "::", want: Unspecified},
		{name: "multicast v4", addr: "239.1.1.1", want: Multicast},
		{name: "multicast v6", addr: "ff02::1", want: Multicast},
		{name: "broadcast", addr: "255.255.255.255", want: Broadcast},
		{name: "class E", addr: "240.0.0.1", want: Reserved},
		{name: "documentation v4", addr: "192.0.2.10", want: Reserved},
		{name: "benchmarking", addr: "198.18.0.1", want: Reserved},
		{name: "documentation v6", addr: "2001:db8::1", want: Reserved},
		{name: "teredo", addr: "2001::1", want: Reserved},
		{name: "outside global unicast v6", addr: "4000::1", want: Reserved},
		{name: "mapped loopback", addr: "::ffff:127.0.0.1", want: Loopback},
		{name: "mapped metadata", addr: "::ffff:169.254.169.254", want: LinkLocal},
		{name: "mapped public", addr: "::ffff:8.8.8.8", want: Public},
		{name: "v4-compatible loopback", addr: "::127.0.0.1", want: Loopback},
		{name: "nat64 of loopback", addr: "64:ff9b::127.0.0.1", want: Loopback},
		{name: "nat64 of public", addr: "64:ff9b::8.8.8.8", want: Public},
		{name: "local-use nat64", addr: "64:ff9b:1::8.8.8.8", want: Private},
		{name: "6to4 of private", addr: "2002:0a00:0001::1", want: Private},
		{name: "6to4 of public", addr: "2002:0808:0808::1", want: Public},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Classify(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
	if got := Classify(netip.Addr{}); got == Public {
		t.Errorf("the zero Addr is public")
	}
}
