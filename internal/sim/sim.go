// Package sim runs a fleet of virtual agents against a hub to measure it at
// fleet scale on one machine: each agent enrolls, long-polls over mTLS,
// fetches only the objects it lacks, verifies, applies into memory and
// reports, while a driver commits changes to a Git repository it serves and
// times each change until every agent has applied it.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

// Options describe one run.
type Options struct {
	Clusters         int
	Bundles          int
	ObjectsPerBundle int
	// Groups: cluster i gets label group=g<i mod Groups>; each group has
	// its own source over the same repository targeting group=g<i>.
	Groups  int
	Changes int
	// FlapFraction of the agents go offline and online at random while
	// changes are made.
	FlapFraction float64
	Seed         uint64
	// Hub is the hub to measure; its admin.yaml must let the sim add
	// sources and tokens.
	Hub Hub
	// WorkDir holds the Git repository; a temporary directory when empty.
	WorkDir string
	// IdleWindow is how long idle traffic is measured; 60 s when zero.
	IdleWindow time.Duration
	// Online and Offline bound a flapping agent's random periods; 2–20 s
	// online and 1–10 s offline when zero.
	Online, Offline [2]time.Duration
	// ChangeTimeout bounds the wait for one change to converge; 5 min when
	// zero.
	ChangeTimeout time.Duration
	// InitialTimeout bounds the wait for every agent's first manifest;
	// 30 min when zero.
	InitialTimeout time.Duration
	// EnrollConcurrency bounds enrollments in flight; 32 when zero.
	EnrollConcurrency int
	// ChangeProfile, when set, receives the simulator's own CPU profile
	// of the changes (not of enrollment, initial sync or idle).
	ChangeProfile io.Writer
	Logger        *slog.Logger
}

func (o *Options) defaults() error {
	if o.Clusters < 1 || o.Bundles < 1 || o.ObjectsPerBundle < 1 || o.Groups < 1 || o.Changes < 0 {
		return errors.New("clusters, bundles, objects per bundle and groups must be at least 1, changes at least 0")
	}
	if o.FlapFraction < 0 || o.FlapFraction > 1 {
		return errors.New("flap fraction must be within [0, 1]")
	}
	if o.Hub == nil {
		return errors.New("no hub")
	}
	if o.IdleWindow == 0 {
		o.IdleWindow = time.Minute
	}
	if o.Online == [2]time.Duration{} {
		o.Online = [2]time.Duration{2 * time.Second, 20 * time.Second}
	}
	if o.Offline == [2]time.Duration{} {
		o.Offline = [2]time.Duration{time.Second, 10 * time.Second}
	}
	if o.ChangeTimeout == 0 {
		o.ChangeTimeout = 5 * time.Minute
	}
	if o.InitialTimeout == 0 {
		o.InitialTimeout = 30 * time.Minute
	}
	if o.EnrollConcurrency == 0 {
		o.EnrollConcurrency = 32
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run makes the repository, enrolls the agents, measures idle traffic,
// makes the changes and reports. It returns an error, with the report,
// when any agent applied an older generation than one it had applied.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := CheckFileLimit(opts.Clusters); err != nil {
		return nil, err
	}
	log := opts.Logger
	dir := opts.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "flotilla-sim-")
		if err != nil {
			return nil, fmt.Errorf("creating work directory: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	f := newFleet(opts.Clusters, opts.Changes)
	rp, commit, err := newRepo(filepath.Join(dir, "repo"), opts.Bundles, opts.ObjectsPerBundle, opts.Seed)
	if err != nil {
		return nil, err
	}
	f.setCommit(commit, 0)
	cfg, err := clientconfig.Load(opts.Hub.AdminConfig())
	if err != nil {
		return nil, fmt.Errorf("loading admin config: %w", err)
	}
	op, err := hubclient.NewOperator(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to hub: %w", err)
	}
	specs := sourceSpecs(opts.Groups, rp.URL())
	for _, s := range specs {
		if _, err := op.AddSource(ctx, s); err != nil {
			return nil, fmt.Errorf("adding source %s: %w", s.Name, err)
		}
	}
	rep := &Report{Clusters: opts.Clusters, Renders: -1}

	agents, enrollTime, err := enrollAll(ctx, op, opts)
	if err != nil {
		return nil, err
	}
	rep.EnrollSeconds = enrollTime.Seconds()
	log.Info("enrolled", "clusters", len(agents), "seconds", rep.EnrollSeconds)

	steady := steadyAgents(agents)
	f.witnessA = steady[0].idx

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	start, finish := make(chan struct{}), make(chan struct{})
	plan := flapPlan{start: start, stop: finish, online: opts.Online, offline: opts.Offline}
	done := make(chan struct{}, len(agents))
	for _, a := range agents {
		go func() { a.run(runCtx, f, plan); done <- struct{}{} }()
	}
	defer func() {
		stop()
		for range agents {
			<-done
		}
		for _, a := range agents {
			a.c.offline()
		}
	}()

	t0 := time.Now()
	if n := waitApplied(ctx, log, f, 0, agents, opts.InitialTimeout); n < len(agents) {
		return nil, fmt.Errorf("initial sync: %d of %d clusters applied the first commit within %s", n, len(agents), opts.InitialTimeout)
	}
	rep.InitialSyncSeconds = time.Since(t0).Seconds()
	log.Info("initial sync done", "seconds", rep.InitialSyncSeconds)

	if err := measureIdle(ctx, opts, agents, rep); err != nil {
		return nil, err
	}

	close(start)
	if opts.ChangeProfile != nil {
		if err := pprof.StartCPUProfile(opts.ChangeProfile); err != nil {
			return nil, fmt.Errorf("starting CPU profile: %w", err)
		}
	}
	var samples []float64
	var changeBytes int64
	for i := 1; i <= opts.Changes; i++ {
		before := sumBytes(steady)
		commit, err := rp.change(i)
		if err != nil {
			return nil, err
		}
		f.setCommit(commit, i)
		at := time.Now()
		// The sim acts as a Git webhook: it asks each source to fetch now.
		for _, s := range specs {
			if _, err := op.AddSource(ctx, s); err != nil {
				return nil, fmt.Errorf("triggering source %s: %w", s.Name, err)
			}
		}
		n := waitApplied(ctx, log, f, i, steady, opts.ChangeTimeout)
		changeBytes += sumBytes(steady) - before
		var ts []float64
		for _, a := range steady {
			if t, ok := f.appliedAt(a.idx, i); ok {
				ts = append(ts, t.Sub(at).Seconds())
			}
		}
		p := percentiles(ts)
		rep.PerChange = append(rep.PerChange, ChangeResult{Change: i, Applied: n, Of: len(steady), Seconds: p})
		samples = append(samples, ts...)
		log.Info("change converged", "change", i, "applied", n, "of", len(steady), "p50", p.P50, "p99", p.P99, "max", p.Max)
	}
	if opts.ChangeProfile != nil {
		pprof.StopCPUProfile()
	}
	close(finish)
	if opts.Changes > 0 && len(steady) > 0 {
		rep.BytesPerChangePerCluster = float64(changeBytes) / float64(opts.Changes*len(steady))
	}
	rep.ConvergeSeconds = percentiles(samples)
	rep.Converged = waitApplied(ctx, log, f, opts.Changes, agents, opts.ChangeTimeout)
	rep.FullBundleBytesPerChangePerCluster = fullBundleBytes(f, opts.Changes)

	if n, err := renders(ctx, opts.Hub.AdminConfig()); err != nil {
		log.Warn("reading renders from the hub", "err", err)
	} else {
		rep.Renders = n
	}
	if u, ok := opts.Hub.Usage(); ok {
		rep.HubCPUSeconds, rep.HubPeakRSSBytes, rep.RenderWorkersPeakRSSBytes = u.CPUSeconds, u.PeakRSSBytes, u.WorkersPeakRSSBytes
	} else {
		rep.HubCPUSeconds, rep.HubPeakRSSBytes, rep.RenderWorkersPeakRSSBytes = -1, -1, -1
	}
	if u, err := procUsage(os.Getpid()); err == nil {
		rep.SimCPUSeconds = u.CPUSeconds
	}
	rep.Violations = f.violations.Load()
	rep.Errors = f.errs.Load()
	rep.Flapping = len(agents) - len(steady)
	if rep.Violations > 0 {
		return rep, fmt.Errorf("%d times an agent was offered or applied an older generation than one it had applied", rep.Violations)
	}
	return rep, nil
}

// sourceSpecs: one source per group over the same bundles, so that every
// group is a separate targeting decision, fetch and render for the hub.
// Poll is long: the sim triggers fetches itself, as a webhook would.
func sourceSpecs(groups int, url string) []wire.SourceSpec {
	out := make([]wire.SourceSpec, groups)
	for g := range groups {
		out[g] = wire.SourceSpec{Name: fmt.Sprintf("sim-g%d", g), Repo: url, Branch: "main", Paths: []string{bundlesPath}, Poll: wire.Duration(time.Hour), Targets: []string{"group=" + groupName(g)}}
	}
	return out
}

func groupName(g int) string { return fmt.Sprintf("g%d", g) }

func steadyAgents(agents []*vagent) []*vagent {
	var out []*vagent
	for _, a := range agents {
		if !a.flap {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return agents
	}
	return out
}

func sumBytes(agents []*vagent) int64 {
	var n int64
	for _, a := range agents {
		n += a.c.bw.total()
	}
	return n
}

// waitApplied polls until every agent applied change, or timeout; it
// returns how many did.
func waitApplied(ctx context.Context, log *slog.Logger, f *fleet, change int, agents []*vagent, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	nextLog := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, a := range agents {
			if _, ok := f.appliedAt(a.idx, change); ok {
				n++
			}
		}
		if n == len(agents) || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		if time.Now().After(nextLog) {
			log.Info("waiting for clusters", "change", change, "applied", n, "of", len(agents))
			nextLog = nextLog.Add(30 * time.Second)
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// measureIdle counts bytes and hub CPU while nothing changes.
func measureIdle(ctx context.Context, opts Options, agents []*vagent, rep *Report) error {
	before := sumBytes(agents)
	u0, ok := opts.Hub.Usage()
	t := time.NewTimer(opts.IdleWindow)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	minutes := opts.IdleWindow.Minutes()
	rep.IdleBytesPerClusterPerMinute = float64(sumBytes(agents)-before) / float64(len(agents)) / minutes
	rep.IdleHubCPUFraction = -1
	if u1, ok1 := opts.Hub.Usage(); ok && ok1 {
		rep.IdleHubCPUFraction = (u1.CPUSeconds - u0.CPUSeconds) / opts.IdleWindow.Seconds()
	}
	opts.Logger.Info("idle measured", "bytesPerClusterPerMinute", rep.IdleBytesPerClusterPerMinute, "hubCores", rep.IdleHubCPUFraction)
	return nil
}

// flapping picks which agents flap, from the seed.
func flapping(n int, fraction float64, seed uint64) []bool {
	rng := rand.New(rand.NewPCG(seed, 0xf1a9))
	out := make([]bool, n)
	for _, i := range rng.Perm(n)[:int(fraction*float64(n))] {
		out[i] = true
	}
	return out
}

// fdHeadroom is what the process needs besides one descriptor per agent.
const fdHeadroom = 256

// CheckFileLimit refuses a run that would fail after minutes of enrolling:
// every agent holds one connection, so this process needs a file
// descriptor per agent, and a hub as many.
func CheckFileLimit(clusters int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: let the run find out
	}
	if need := uint64(clusters) + fdHeadroom; lim.Cur < need {
		return fmt.Errorf("%d clusters need about %d open files in this process (and as many in the hub), but the limit is %d (hard limit %d): raise it with ulimit -n, or run fewer clusters per process", clusters, need, lim.Cur, lim.Max)
	}
	return nil
}
