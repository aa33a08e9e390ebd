package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAllowlistErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{name: "empty", pattern: "", wantErr: "empty pattern"},
		{name: "scheme", pattern: "http://charts.example", wantErr: "not a host name"},
		{name: "port", pattern: "charts.example:8080", wantErr: `':' is not allowed`},
		{name: "bare star", pattern: "*", wantErr: `'*' is not allowed`},
		{name: "star inside", pattern: "charts.*.example", wantErr: `'*' is not allowed`},
		{name: "double star", pattern: "*.*.example", wantErr: `'*' is not allowed`},
		{name: "empty label", pattern: "charts..example", wantErr: "not a host name"},
		{name: "bad prefix", pattern: "10.0.0.0/33", wantErr: "not a host name"},
		{name: "unicode", pattern: "chärts.example", wantErr: "punycode"},
		{name: "long label", pattern: strings.Repeat("a", 64) + ".example", wantErr: "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAllowlist([]string{"ok.example", tt.pattern})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--allow-chart-host") {
				t.Fatalf("err = %v, want one naming --allow-chart-host and %q", err, tt.wantErr)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{"Charts.Internal.", "*.corp.example", "10.1.2.3", "192.168.0.0/16", "[fd00::7]", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	names := []struct {
		host string
		want bool
	}{
		{"charts.internal", true},
		{"CHARTS.internal.", true},
		{"other.internal", false},
		{"a.corp.example", true},
		{"a.b.corp.example", true},
		{"corp.example", false},
		{"evilcorp.example", false},
		{"10.1.2.3", false}, // a literal is judged by its address, not as a name
	}
	for _, n := range names {
		if got := a.AllowsName(n.host); got != n.want {
			t.Errorf("AllowsName(%q) = %v, want %v", n.host, got, n.want)
		}
	}
	addrs := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"10.1.2.4", false},
		{"192.168.77.1", true},
		{"fd00::7", true},
		{"fd00::8", false},
		{"172.16.9.9", true}, // the mapped prefix is an IPv4 prefix
		{"172.32.0.1", false},
	}
	for _, x := range addrs {
		if got := a.AllowsAddr(netip.MustParseAddr(x.addr)); got != x.want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", x.addr, got, x.want)
		}
	}
	var none *Allowlist
	if none.AllowsName("x") || none.AllowsAddr(netip.MustParseAddr("10.0.0.1")) {
		t.Error("a nil Allowlist allows something")
	}
}
