package hubserver

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"flotilla.io/flotilla/internal/hub/api"
)

// TestExemptSourceStillCountsInTotals: --no-limit-from lifts the limits
// per address, not the hub-wide cap on connections without an agent
// certificate, nor the connections gauge.
func TestExemptSourceStillCountsInTotals(t *testing.T) {
	m := newConnMetrics(prometheus.NewRegistry())
	lim := Limits{MaxUnauthConnsPerAddr: 1, MaxUnauthConns: 2}
	lim.Requests.NoLimitFrom = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	l := &limitListener{lim: lim.withDefaults(), perAddr: map[netip.Prefix]*addrConns{}, metrics: m}
	src := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 1}
	conn := func(agent bool) *limitedConn {
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		lc := l.admit(addrConn{Conn: c, remote: src})
		if lc == nil {
			t.Fatal("connection refused at the handshake")
		}
		if !l.classify(lc, agent) {
			t.Fatal("connection closed unanswered")
		}
		return lc
	}
	gauge := func(kind string) float64 { return testutil.ToFloat64(m.conns.WithLabelValues(kind)) }
	check := func(when string, unauth, refused, agents int) {
		t.Helper()
		a, total := l.counts(api.SourcePrefix(src.AddrPort().Addr()))
		if a != (addrConns{}) || total != unauth {
			t.Errorf("%s: address counts %+v, %d unauthenticated in all; want none by address, %d in all", when, a, total, unauth)
		}
		if g := []float64{gauge("unauthenticated"), gauge("refused"), gauge("agent")}; g[0] != float64(unauth) || g[1] != float64(refused) || g[2] != float64(agents) {
			t.Errorf("%s: gauges unauthenticated, refused, agent = %v, want %d, %d, %d", when, g, unauth, refused, agents)
		}
	}

	// Past the per-address limit (1), under the hub's (2).
	first, second := conn(false), conn(false)
	if first.kind != unauthConn || second.kind != unauthConn {
		t.Fatalf("kinds %v, %v: the exempt source was held to its per-address limit", first.kind, second.kind)
	}
	agent := conn(true)
	third := conn(false)
	if third.kind != refusedConn || third.refusal == "" {
		t.Fatalf("third connection: kind %v, want refused: the exempt source escaped --max-unauth-conns", third.kind)
	}
	if want := "--max-unauth-conns)"; !strings.Contains(third.refusal, want) {
		t.Errorf("refusal %q does not name %s", third.refusal, want)
	}
	check("open", 2, 1, 1)

	for _, c := range []*limitedConn{first, second, third, agent} {
		c.Close()
	}
	check("closed", 0, 0, 0)
	if l.refusedTotal != 0 {
		t.Errorf("refusals in all after closing: %d", l.refusedTotal)
	}
}
