package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"flotilla.io/flotilla/internal/egress"
	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/helmrepo"
	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/hub/api"
	"flotilla.io/flotilla/internal/hubserver"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/renderworker"
)

// addHubLimitFlags registers what bounds the hub's work for hostile
// input: repositories, renders, chart downloads and callers. Every
// refusal the hub answers names the flag that raises its limit.
func addHubLimitFlags(f *pflag.FlagSet, cfg *hubserver.Config, noLimitFrom *[]string) {
	r := &cfg.Render
	r.Egress = egress.Policy{Timeout: egress.DefaultTimeout}
	r.ChartLimits = helmrepo.Limits{MaxIndexBytes: helmrepo.DefaultMaxIndexBytes, MaxChartBytes: helmrepo.DefaultMaxChartBytes}
	r.Limits = render.Limits{}.WithDefaults()
	cfg.Repo = hubserver.RepoLimits{MaxFiles: gitsource.DefaultMaxFiles, MaxBytes: gitsource.DefaultMaxBytes, MaxDepth: gitsource.DefaultMaxDepth}
	cfg.RenderWorkerMemory = renderworker.DefaultMemoryLimit
	cfg.RenderCacheBytes = hub.DefaultRenderCacheBytes
	lim := &cfg.Limits
	req := &lim.Requests

	// What renders may fetch.
	f.StringArrayVar(&r.Egress.AllowHosts, "allow-chart-host", nil, "fetch Helm charts from this host even if its address is loopback, link-local or private: a name, *.suffix, an IP or a CIDR (repeatable); refused by default")
	f.DurationVar(&r.Egress.Timeout, "chart-fetch-timeout", r.Egress.Timeout, "time limit of one chart repository request, redirects and body included")
	bytesVar(f, &r.ChartLimits.MaxIndexBytes, "max-chart-index-bytes", "largest chart repository index.yaml the hub reads")
	bytesVar(f, &r.ChartLimits.MaxChartBytes, "max-chart-bytes", "largest chart archive the hub downloads")

	// Repositories and renders.
	f.IntVar(&cfg.Repo.MaxFiles, "max-repo-files", cfg.Repo.MaxFiles, "most entries (files, directories, links) one commit of a source may hold")
	bytesVar(f, &cfg.Repo.MaxBytes, "max-repo-bytes", "most bytes of files one commit of a source may hold")
	f.IntVar(&cfg.Repo.MaxDepth, "max-repo-depth", cfg.Repo.MaxDepth, "deepest directory nesting one commit of a source may hold")
	f.IntVar(&r.Limits.MaxObjects, "max-bundle-objects", r.Limits.MaxObjects, "most objects one render of a bundle may produce")
	bytesVar(f, &r.Limits.MaxBytes, "max-bundle-bytes", "most bytes of objects (and of manifest files read) one render of a bundle may produce")
	f.DurationVar(&r.Limits.Timeout, "render-timeout", r.Limits.Timeout, "time limit of one render of a bundle; its worker is killed past it")
	f.IntVar(&cfg.RenderWorkers, "render-workers", 0, "render worker processes (default: one per CPU)")
	bytesVar(f, &cfg.RenderWorkerMemory, "render-worker-memory", "memory one render worker may add; a render that needs more is refused")
	bytesVar(f, &cfg.RenderCacheBytes, "render-cache-size", "memory for the cache of renders shared by clusters (least recently used out)")

	// Callers.
	f.IntVar(&req.MaxAgentInFlight, "max-agent-in-flight", api.DefaultMaxAgentInFlight, "agents' object fetches and status posts served at once (long-polls not counted); past it they wait up to a second, then get 503")
	f.IntVar(&req.MaxEnrollInFlight, "max-enroll-in-flight", api.DefaultMaxEnrollInFlight, "enrollments served at once, apart from agents' requests")
	f.IntVar(&req.MaxOperatorInFlight, "max-operator-in-flight", api.DefaultMaxOperatorInFlight, "operator API requests served at once, apart from agents' requests")
	f.Float64Var(&req.EnrollRate, "enroll-rate", api.DefaultEnrollRate, "enrollments per second one source address may start; past it 429 with Retry-After")
	f.IntVar(&req.EnrollBurst, "enroll-burst", api.DefaultEnrollBurst, "enrollments one source address may start at once")
	f.DurationVar(&req.UnauthBodyTimeout, "unauth-body-timeout", api.DefaultUnauthBodyTimeout, "time limit for reading the body of a request from a caller not yet known (enrollment)")
	f.DurationVar(&lim.HandshakeTimeout, "tls-handshake-timeout", hubserver.DefaultHandshakeTimeout, "time limit of a TLS handshake")
	f.IntVar(&lim.MaxHandshakesPerAddr, "max-handshakes-per-addr", hubserver.DefaultMaxHandshakesPerAddr, "TLS handshakes in progress from one source address")
	f.IntVar(&lim.MaxUnauthConnsPerAddr, "max-unauth-conns-per-addr", hubserver.DefaultMaxUnauthConnsPerAddr, "open connections without an agent certificate from one source address (agents are never capped)")
	f.IntVar(&lim.MaxUnauthConns, "max-unauth-conns", hubserver.DefaultMaxUnauthConns, "open connections without an agent certificate, all addresses together")
	f.StringArrayVar(noLimitFrom, "no-limit-from", nil, "source prefix (CIDR) exempt from every per-address limit, e.g. a NAT gateway with a large fleet behind it; hub-wide limits still count it (repeatable)")
}

// parseNoLimitFrom turns --no-limit-from values into prefixes.
func parseNoLimitFrom(vals []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(vals))
	for _, v := range vals {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			addr, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("--no-limit-from %q: want a CIDR such as 10.0.0.0/8 or an address", v)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// renderWorkerCommand is this binary as a render worker.
func renderWorkerCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the flotilla binary for render workers: %w", err)
	}
	return []string{exe, "render-worker"}, nil
}

// bytesValue is a byte count given as a Kubernetes quantity (512Mi, 2Gi).
type bytesValue struct{ n *int64 }

func bytesVar(f *pflag.FlagSet, n *int64, name, usage string) {
	f.Var(bytesValue{n}, name, usage+" (a quantity such as 64Mi)")
}

func (b bytesValue) String() string {
	if b.n == nil {
		return "0"
	}
	return resource.NewQuantity(*b.n, resource.BinarySI).String()
}

func (b bytesValue) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("want a positive quantity such as 64Mi or 2Gi")
	}
	*b.n = q.Value()
	return nil
}

func (bytesValue) Type() string { return "bytes" }
