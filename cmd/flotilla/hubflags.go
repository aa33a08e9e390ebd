package main

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

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
// refusal the hub answers names the flag that raises its limit. Check the
// returned limitFlags once the flags are parsed.
func addHubLimitFlags(f *pflag.FlagSet, cfg *hubserver.Config, noLimitFrom *[]string) *limitFlags {
	r := &cfg.Render
	r.Egress = egress.Policy{Timeout: egress.DefaultTimeout}
	r.ChartLimits = helmrepo.Limits{MaxIndexBytes: helmrepo.DefaultMaxIndexBytes, MaxChartBytes: helmrepo.DefaultMaxChartBytes}
	r.Limits = render.Limits{}.WithDefaults()
	cfg.Repo = hubserver.RepoLimits{MaxFiles: gitsource.DefaultMaxFiles, MaxBytes: gitsource.DefaultMaxBytes, MaxDepth: gitsource.DefaultMaxDepth}
	cfg.RenderWorkerMemory = renderworker.DefaultMemoryLimit
	cfg.RenderCacheBytes = hub.DefaultRenderCacheBytes
	lim := &cfg.Limits
	req := &lim.Requests
	l := &limitFlags{f: f}

	// What renders may fetch.
	f.StringArrayVar(&r.Egress.AllowHosts, "allow-chart-host", nil, "fetch Helm charts from this host even if its address is loopback, link-local or private: a name, *.suffix, an IP or a CIDR (repeatable); refused by default")
	l.duration(&r.Egress.Timeout, "chart-fetch-timeout", r.Egress.Timeout, false, "time limit of one chart repository request, redirects and body included")
	bytesVar(f, &r.ChartLimits.MaxIndexBytes, "max-chart-index-bytes", "largest chart repository index.yaml the hub reads")
	bytesVar(f, &r.ChartLimits.MaxChartBytes, "max-chart-bytes", "largest chart archive the hub downloads")

	// Repositories and renders.
	l.int(&cfg.Repo.MaxFiles, "max-repo-files", cfg.Repo.MaxFiles, false, "most entries (files, directories, links) one commit of a source may hold, counting what links to directories lead to as a walk meets it")
	bytesVar(f, &cfg.Repo.MaxBytes, "max-repo-bytes", "most bytes of files one commit of a source may hold")
	l.int(&cfg.Repo.MaxDepth, "max-repo-depth", cfg.Repo.MaxDepth, false, "deepest directory nesting one commit of a source may hold")
	l.int(&r.Limits.MaxObjects, "max-bundle-objects", r.Limits.MaxObjects, true, "most objects one render of a bundle may produce")
	bytesVar(f, &r.Limits.MaxBytes, "max-bundle-bytes", "most bytes of objects (and of manifest files read) one render of a bundle may produce")
	l.duration(&r.Limits.Timeout, "render-timeout", r.Limits.Timeout, true, "time limit of one render of a bundle; its worker is killed past it")
	f.IntVar(&cfg.RenderWorkers, "render-workers", 0, "render worker processes (default: one per CPU)")
	bytesVar(f, &cfg.RenderWorkerMemory, "render-worker-memory", "memory one render worker may add; a render that needs more is refused")
	bytesVar(f, &cfg.RenderCacheBytes, "render-cache-size", "memory for the cache of renders shared by clusters (least recently used out)")

	// Callers.
	l.int(&req.MaxAgentInFlight, "max-agent-in-flight", api.DefaultMaxAgentInFlight, true, "agents' object fetches and status posts served at once (long-polls not counted); past it they wait up to a second, then get 503")
	l.int(&req.MaxEnrollInFlight, "max-enroll-in-flight", api.DefaultMaxEnrollInFlight, true, "enrollments served at once, apart from agents' requests")
	l.int(&req.MaxOperatorInFlight, "max-operator-in-flight", api.DefaultMaxOperatorInFlight, true, "operator API requests served at once, apart from agents' requests")
	l.float64(&req.EnrollRate, "enroll-rate", api.DefaultEnrollRate, true, "enrollments per second one source address may start; past it 429 with Retry-After")
	l.int(&req.EnrollBurst, "enroll-burst", api.DefaultEnrollBurst, false, "enrollments one source address may start at once")
	l.duration(&req.UnauthBodyTimeout, "unauth-body-timeout", api.DefaultUnauthBodyTimeout, true, "time limit for reading the body of a request from a caller not yet known (enrollment)")
	l.duration(&lim.HandshakeTimeout, "tls-handshake-timeout", hubserver.DefaultHandshakeTimeout, true, "time limit of a TLS handshake")
	l.int(&lim.MaxHandshakesPerAddr, "max-handshakes-per-addr", hubserver.DefaultMaxHandshakesPerAddr, true, "TLS handshakes in progress from one source address")
	l.int(&lim.MaxUnauthConnsPerAddr, "max-unauth-conns-per-addr", hubserver.DefaultMaxUnauthConnsPerAddr, true, "open connections without an agent certificate from one source address (agents are never capped)")
	l.int(&lim.MaxUnauthConns, "max-unauth-conns", hubserver.DefaultMaxUnauthConns, true, "open connections without an agent certificate, all addresses together")
	f.StringArrayVar(noLimitFrom, "no-limit-from", nil, "source prefix (CIDR) exempt from every per-address limit, e.g. a NAT gateway with a large fleet behind it; hub-wide limits still count it (repeatable)")
	return l
}

// limitFlags are limit flags whose zero the hub would read as "the
// default" (hubserver.Limits, api.Limits, render.Limits and the others
// fill zero fields): given explicitly, a zero is refused instead of
// silently changed. Where a negative value turns the limit off, the help
// says "-1: no limit"; elsewhere the value must be positive.
type limitFlags struct {
	f      *pflag.FlagSet
	checks []limitCheck
}

type limitCheck struct {
	name, def  string
	sign       func() int // of the value parsed: -1, 0 or 1
	canTurnOff bool
}

func (l *limitFlags) int(p *int, name string, def int, canTurnOff bool, usage string) {
	l.f.IntVar(p, name, def, usage+offHelp(canTurnOff))
	l.add(name, fmt.Sprint(def), func() int { return cmp.Compare(*p, 0) }, canTurnOff)
}

func (l *limitFlags) float64(p *float64, name string, def float64, canTurnOff bool, usage string) {
	l.f.Float64Var(p, name, def, usage+offHelp(canTurnOff))
	l.add(name, fmt.Sprint(def), func() int { return cmp.Compare(*p, 0) }, canTurnOff)
}

// duration registers a duration flag that also takes -1 (no limit) when
// canTurnOff: Go's durations want a unit, even for -1.
func (l *limitFlags) duration(p *time.Duration, name string, def time.Duration, canTurnOff bool, usage string) {
	*p = def
	l.f.Var(limitDuration{p}, name, usage+offHelp(canTurnOff))
	l.add(name, def.String(), func() int { return cmp.Compare(*p, 0) }, canTurnOff)
}

func (l *limitFlags) add(name, def string, sign func() int, canTurnOff bool) {
	l.checks = append(l.checks, limitCheck{name: name, def: def, sign: sign, canTurnOff: canTurnOff})
}

func offHelp(canTurnOff bool) string {
	if canTurnOff {
		return " (-1: no limit)"
	}
	return ""
}

// check refuses a zero limit, and a negative one where that turns
// nothing off.
func (l *limitFlags) check() error {
	for _, c := range l.checks {
		v := l.f.Lookup(c.name).Value
		switch s := c.sign(); {
		case s == 0 && c.canTurnOff:
			return fmt.Errorf("--%s %s is not a limit: -1 turns it off; leave the flag out for the default %s", c.name, v, c.def)
		case s <= 0 && !c.canTurnOff:
			return fmt.Errorf("--%s %s: want a positive value; leave the flag out for the default %s", c.name, v, c.def)
		}
	}
	return nil
}

// limitDuration is a duration flag that also takes -1, for no limit.
type limitDuration struct{ d *time.Duration }

func (v limitDuration) String() string {
	if v.d == nil {
		return "0s"
	}
	return v.d.String()
}

func (v limitDuration) Set(s string) error {
	if s == "-1" {
		*v.d = -1
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 30s or 2m")
	}
	*v.d = d
	return nil
}

func (limitDuration) Type() string { return "duration" }

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
