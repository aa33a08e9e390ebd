package hub

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus series, registered on a registry the
// caller owns (no process-wide default registry).
type metrics struct {
	renders     prometheus.Counter
	manifests   prometheus.Counter
	fetches     *prometheus.CounterVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	cacheBytes  prometheus.Gauge
	factsDelays prometheus.Counter
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
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_hub_render_cache_hits_total",
			Help: "Renders a manifest computation found in the render cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_hub_render_cache_misses_total",
			Help: "Renders a manifest computation did not find in the render cache; hits / (hits + misses) is the hit rate.",
		}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_hub_render_cache_bytes",
			Help: "Approximate size of the render cache, bounded by the hub's render cache limit.",
		}),
		factsDelays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_hub_facts_changes_delayed_total",
			Help: "Facts changes whose manifest computation waited because the cluster's facts changed too often.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.renders, m.manifests, m.fetches, m.cacheHits, m.cacheMisses, m.cacheBytes, m.factsDelays, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flotilla_hub_agents_polling",
			Help: "Agents holding a manifest long-poll now.",
		}, polling))
	}
	return m
}
