package hubserver

import "github.com/prometheus/client_golang/prometheus"

// connMetrics count connections by what the listener made of them. A nil
// *connMetrics counts nothing.
type connMetrics struct {
	refusals *prometheus.CounterVec
	conns    *prometheus.GaugeVec
}

func newConnMetrics(reg prometheus.Registerer) *connMetrics {
	m := &connMetrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_hub_connections_refused_total",
			Help: "Connections refused or closed by the listener, by reason.",
		}, []string{"reason"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_hub_connections",
			Help: "Open connections by kind: agent (a client certificate the hub honours), unauthenticated, refused.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.refusals, m.conns)
	return m
}

func (m *connMetrics) refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *connMetrics) open(k connKind, delta float64) {
	if m == nil {
		return
	}
	switch k {
	case agentConn:
		m.conns.WithLabelValues("agent").Add(delta)
	case unauthConn:
		m.conns.WithLabelValues("unauthenticated").Add(delta)
	case refusedConn:
		m.conns.WithLabelValues("refused").Add(delta)
	}
}
