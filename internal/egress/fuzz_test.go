package egress

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzClassify: an address netip knows as internal is never Public, a
// Public address is global unicast, and an IPv4 address and its mapped
// form are judged alike.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"8.8.8.8", "127.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "fe80::1", "2606:4700::1111", "::"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 16 {
			raw = append(raw, make([]byte, 16-len(raw))...)
		}
		a := netip.AddrFrom16([16]byte(raw[:16]))
		for _, addr := range []netip.Addr{a, a.Unmap()} {
			c := Classify(addr)
			internal := addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
				addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified()
			if internal && c == Public {
				t.Fatalf("%s is internal but classified public", addr)
			}
			if c == Public && !addr.IsGlobalUnicast() {
				t.Fatalf("%s is public but not global unicast", addr)
			}
		}
		if a.Is4In6() && Classify(a) != Classify(a.Unmap()) {
			t.Fatalf("%s and %s differ: %q, %q", a, a.Unmap(), Classify(a), Classify(a.Unmap()))
		}
	})
}

// FuzzAllowlist: a pattern either fails to parse or matches as it says;
// name matching ignores case and a final dot; a *.suffix pattern never
// matches the suffix itself; an address pattern matches its address and
// its IPv4-mapped form.
func FuzzAllowlist(f *testing.F) {
	for _, s := range [][2]string{
		{"charts.example", "charts.example"}, {"*.corp.example", "a.corp.example"}, {"*.corp.example", "corp.example"},
		{"10.0.0.0/8", "10.1.2.3"}, {"::ffff:10.0.0.0/104", "10.9.9.9"}, {"[fd00::1]", "fd00::1"}, {"*", "x"}, {"http://x", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		a, err := ParseAllowlist([]string{pattern})
		if err != nil {
			if !strings.Contains(err.Error(), "--allow-chart-host") {
				t.Fatalf("error %q does not name the flag", err)
			}
			return
		}
		// Hosts reach the dialer as ASCII (the transport converts the rest).
		ascii := strings.IndexFunc(host, func(r rune) bool { return r > 0x7f }) < 0
		if ascii && !strings.HasSuffix(host, ".") && a.AllowsName(host) != a.AllowsName(strings.ToUpper(host)+".") {
			t.Fatalf("pattern %q: %q and its upper-case form differ", pattern, host)
		}
		if rest, ok := strings.CutPrefix(normalizeName(pattern), "*."); ok {
			if a.AllowsName(rest) {
				t.Fatalf("pattern %q matches its own suffix", pattern)
			}
			if !a.AllowsName("x." + rest) {
				t.Fatalf("pattern %q does not match x.%s", pattern, rest)
			}
		}
		if ip, err := netip.ParseAddr(strings.Trim(pattern, "[]")); err == nil {
			if !a.AllowsAddr(ip) || !a.AllowsAddr(netip.AddrFrom16(ip.Unmap().As16())) {
				t.Fatalf("pattern %q does not match its own address", pattern)
			}
		}
		if pre, err := netip.ParsePrefix(pattern); err == nil && !a.AllowsAddr(pre.Masked().Addr()) {
			t.Fatalf("pattern %q does not match its first address", pattern)
		}
	})
}

// FuzzDialCheck: the dialer lets an address through only when it is
// public or the operator allowed its name or address, and a refusal says
// why in the policy's terms. Control returning an error is what keeps
// the socket from connecting, so this is "a refused address is never
// dialled".
func FuzzDialCheck(f *testing.F) {
	f.Add("localhost", "127.0.0.1:80", "charts.example")
	f.Add("charts.example", "10.0.0.1:443", "charts.example")
	f.Add("metadata", "[::ffff:169.254.169.254]:80", "10.0.0.0/8")
	f.Add("x", "[fe80::1%eth0]:80", "*.example")
	f.Add("public.example", "8.8.8.8:443", "")
	f.Fuzz(func(t *testing.T, host, address, pattern string) {
		allow, err := ParseAllowlist([]string{pattern})
		if err != nil {
			allow, _ = ParseAllowlist(nil)
		}
		d := &dialer{allow: allow}
		err = d.check(host, address)
		ap, perr := netip.ParseAddrPort(address)
		if perr != nil {
			if err == nil {
				t.Fatalf("%q is not an address but was let through", address)
			}
			return
		}
		ip := ap.Addr()
		allowed := allow.AllowsName(host) || allow.AllowsAddr(ip)
		if err == nil && !allowed && Classify(ip) != Public {
			t.Fatalf("%s (%s) is %q and not allowed, but was let through", host, ip, Classify(ip))
		}
		if err != nil {
			var refused *RefusedError
			if !errors.As(err, &refused) || allowed || refused.Class == Public {
				t.Fatalf("refusal %v for %s (%s): allowed=%v", err, host, ip, allowed)
			}
			if !strings.Contains(err.Error(), "--allow-chart-host") {
				t.Fatalf("refusal %q does not say how to allow", err)
			}
		}
	})
}

// FuzzCheckURL: a URL the client accepts is http or https with a host,
// and the HTTP client can make a request of it.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://charts.example/index.yaml", "http://127.0.0.1:8080/", "file:///etc/passwd", "http:///x", "https://[::1]:0/", "http://u:p@h/", "//h/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || checkURL(u) != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("%q accepted with scheme %q", raw, u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("%q accepted without a host", raw)
		}
		if _, err := http.NewRequest(http.MethodGet, u.String(), nil); err != nil {
			t.Fatalf("%q accepted but not requestable: %v", raw, err)
		}
	})
}
