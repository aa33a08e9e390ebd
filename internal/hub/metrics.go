package hub

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus series, registered on a registry the
// caller owns (no process-wide default registry).
type metrics struct {
	renders   prometheus.Counter
	manifests prometheus.Counter
	fetches   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, polling func() float64) *metrics {
	m := &metrics{
		renders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_hub_renders_total",
			Help: "Bundle renders performed; clusters that share render inputs share one render.",
		}),
		manifests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_hub_manifests_issued_total",
			Help: "Signed manifests issued to clusters.",
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_hub_source_fetches_total",
			Help: "Git source fetches by result.",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.renders, m.manifests, m.fetches, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flotilla_hub_agents_polling",
			Help: "Agents holding a manifest long-poll now.",
		}, polling))
	}
	return m
}
