// Package agent is the edge side of Flotilla: it enrolls once, long-polls
// the hub for its signed manifest, verifies and keeps it on disk, applies
// it with server-side apply, prunes what left it, and reports status. It
// never imports the hub, store or render packages.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/kubeapply"
)

// Applier is what the agent needs of a cluster; kubeapply.Applier is the
// real one.
type Applier interface {
	Apply(ctx context.Context, set kubeapply.Set) (kubeapply.Result, error)
	Delete(ctx context.Context, name string) error
	Sets(ctx context.Context) ([]string, error)
	Health(ctx context.Context, set kubeapply.Set) (kubeapply.Health, error)
	// Watch calls fn for changes to the members of the sets watched holds,
	// following it, until ctx ends.
	Watch(ctx context.Context, watched *kubeapply.Watched, fn func(kubeapply.DriftEvent))
	Drifted(ctx context.Context, set kubeapply.Set, refs []kubeapply.ObjectRef, ignore []kubeapply.IgnoreRule) ([]kubeapply.Drift, error)
	// Restore applies again the members of an applied set that refs name.
	Restore(ctx context.Context, set kubeapply.Set, refs []kubeapply.ObjectRef) (kubeapply.Result, error)
	Facts(ctx context.Context) (kubeapply.ClusterFacts, error)
}

// Options configure an Agent.
type Options struct {
	// StateDir keeps identity, manifest and objects across restarts.
	StateDir string
	// Token is the bootstrap token; needed only until the agent enrolls.
	Token string
	// Name is the cluster name asked for at enrollment.
	Name    string
	Applier Applier
	// Resync is how often health is re-checked and failed applies retried.
	Resync time.Duration
	// FactsInterval is how often cluster facts are gathered again; 5 min
	// when zero.
	FactsInterval time.Duration
	// PollTimeout bounds one long-poll request; above the hub's hold time.
	PollTimeout time.Duration
	// RequestTimeout bounds every other request to the hub (objects,
	// status), so a black-holed link never holds the agent; 30 s when zero.
	RequestTimeout time.Duration
	// RetryBase and RetryMax shape the reconnect backoff (full jitter);
	// 1 s and 1 min when zero.
	RetryBase, RetryMax time.Duration
	// Clock is the time source; the real clock when nil.
	Clock  Clock
	Logger *slog.Logger
	// Version is the agent's own version, reported in its facts and
	// compared with the releases the hub names.
	Version string
}

// Agent reconciles one cluster.
type Agent struct {
	opts   Options
	log    *slog.Logger
	clock  Clock
	store  store
	outbox *outbox

	// kick wakes the reconcile loop; it holds at most one pending wake-up.
	kick chan struct{}
	// reachable tells the sender the hub answered the poller; one pending.
	reachable chan struct{}
	// updateKick wakes the update loop on a new manifest; one pending.
	updateKick chan struct{}
	// sup is the supervisor's contract, nil when unsupervised.
	sup *supervision
	// self is the digest of the running binary once read; refused holds
	// the signatures of the releases refused by this process. Both only
	// the update loop uses.
	self    string
	refused map[string]bool

	mu sync.Mutex // guards the following
	// current is the verified desired state the reconciler enforces.
	current *desired
	// refusal is why the last manifest from the hub was refused, if it
	// was, or why the kept state was refused at start.
	refusal error
	// refusalAtLoad is set while refusal is about the kept state; the
	// hub's next answer settles it.
	refusalAtLoad bool
	// drift holds the members changed by others, by bundle, not yet checked.
	drift map[string][]kubeapply.ObjectRef
	// unguarded holds, by bundle, the members a watch may have missed
	// changes to (whole kinds whose watch was interrupted) and those whose
	// check failed: checked at the next resync.
	unguarded map[string][]kubeapply.ObjectRef
}

// New returns an Agent.
func New(opts Options) (*Agent, error) {
	if opts.StateDir == "" || opts.Applier == nil {
		return nil, errors.New("creating agent: state directory and applier are required")
	}
	if opts.Resync <= 0 {
		opts.Resync = 30 * time.Second
	}
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 90 * time.Second
	}
	if opts.FactsInterval <= 0 {
		opts.FactsInterval = 5 * time.Minute
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{opts: opts, log: log, clock: opts.Clock, store: store{dir: opts.StateDir}, outbox: newOutbox(opts.StateDir), kick: make(chan struct{}, 1), reachable: make(chan struct{}, 1),
		updateKick: make(chan struct{}, 1), refused: map[string]bool{}}, nil
}

// Run enrolls if needed, then polls and reconciles until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.opts.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	id, err := a.identity(ctx)
	if err != nil {
		return err
	}
	a.log = a.log.With("cluster", id.Name)
	kept := a.store.load(id)
	if kept.desired != nil {
		a.log.Info("reconciling kept manifest", "generation", kept.desired.manifest.Generation)
		a.setCurrent(kept.desired)
	}
	if kept.problem != nil {
		// Not fatal: the previous copy or the hub's next answer serves.
		a.log.Error("kept state refused", "err", kept.problem)
		a.setRefusal(kept.problem)
		a.mu.Lock()
		a.refusalAtLoad = true
		a.mu.Unlock()
	}
	a.outbox, err = openOutbox(a.opts.StateDir)
	if err != nil {
		a.log.Warn("unsent status lost", "err", err)
	}
	if rec, err := loadUpdateRecord(a.opts.StateDir); err != nil {
		a.log.Error("agent update record refused", "err", err)
	} else if rec.Last != nil {
		a.outbox.setUpdate(rec.Last)
	}
	cfg := id.client
	cfg.Now = a.clock.Now
	client, err := hubclient.NewAgent(cfg)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { a.pollLoop(ctx, id, client); return nil })
	g.Go(func() error { a.reconcileLoop(ctx); return nil })
	g.Go(func() error { a.sendLoop(ctx, client); return nil })
	g.Go(func() error { a.factsLoop(ctx); return nil })
	g.Go(func() error { return a.updateLoop(ctx, id, client) })
	return g.Wait()
}

// identity loads the kept identity, or enrolls with the token.
func (a *Agent) identity(ctx context.Context) (*identity, error) {
	id, err := loadIdentity(a.opts.StateDir)
	if err == nil {
		a.log.Info("agent identity loaded", "cluster", id.Name, "id", id.ClusterID, "hub", id.HubURL)
		return id, nil
	}
	if !notEnrolled(err) {
		return nil, fmt.Errorf("loading identity from %s: %w", a.opts.StateDir, err)
	}
	if a.opts.Token == "" {
		return nil, errors.New("agent is not enrolled yet: a bootstrap token (--token) is needed on first start")
	}
	b := newBackoff(a.clock, a.opts.RetryBase, a.opts.RetryMax)
	for {
		id, err := enroll(ctx, a.opts.StateDir, a.opts.Token, a.opts.Name)
		if err == nil {
			a.log.Info("enrolled", "cluster", id.Name, "id", id.ClusterID, "hub", id.HubURL)
			return id, nil
		}
		var he *hubclient.Error
		shedding := errors.As(err, &he) && (he.Status == http.StatusTooManyRequests || he.Status == http.StatusServiceUnavailable)
		if (he != nil && !shedding) || ctx.Err() != nil {
			// The hub answered: retrying the same token will not help,
			// unless it only asked to come back later.
			return nil, fmt.Errorf("enrolling: %w", err)
		}
		a.log.Warn("enrolling failed, retrying", "err", err)
		if !b.wait(ctx, hubclient.RetryAfter(err)) {
			return nil, ctx.Err()
		}
	}
}

func (a *Agent) setCurrent(d *desired) {
	a.mu.Lock()
	a.current, a.refusal, a.refusalAtLoad = d, nil, false
	a.mu.Unlock()
	a.wake()
	select {
	case a.updateKick <- struct{}{}:
	default:
	}
}

func (a *Agent) setRefusal(err error) {
	a.mu.Lock()
	a.refusal, a.refusalAtLoad = err, false
	a.mu.Unlock()
	a.wake()
}

// hubAgrees clears a refusal of the kept state once the hub has answered
// that the state enforced is current.
func (a *Agent) hubAgrees() {
	a.mu.Lock()
	cleared := a.refusalAtLoad
	if cleared {
		a.refusal, a.refusalAtLoad = nil, false
	}
	a.mu.Unlock()
	if cleared {
		a.wake()
	}
}

func (a *Agent) snapshot() (*desired, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current, a.refusal
}

func (a *Agent) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// noteDrift queues a change seen by the watch for the reconcile loop, or,
// when the watch was interrupted, the kind it could not watch for the
// next resync.
func (a *Agent) noteDrift(ev kubeapply.DriftEvent) {
	if ev.Interrupted {
		a.recheckLater(ev.Set, []kubeapply.ObjectRef{ev.Ref})
		return
	}
	a.mu.Lock()
	a.drift = addRefs(a.drift, ev.Set, []kubeapply.ObjectRef{ev.Ref})
	a.mu.Unlock()
	a.wake()
}

// recheckLater queues members of a bundle for a check at the next resync.
func (a *Agent) recheckLater(bundle string, refs []kubeapply.ObjectRef) {
	a.mu.Lock()
	a.unguarded = addRefs(a.unguarded, bundle, refs)
	a.mu.Unlock()
}

// takeDrift returns and clears the queued changes; with resync, also the
// members queued for the resync.
func (a *Agent) takeDrift(resync bool) map[string][]kubeapply.ObjectRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.drift
	a.drift = nil
	if resync {
		for name, refs := range a.unguarded {
			d = addRefs(d, name, refs)
		}
		a.unguarded = nil
	}
	return d
}

// addRefs adds refs to m[name], leaving out those already covered; nil
// refs (the whole set) are kept as one zero ref.
func addRefs(m map[string][]kubeapply.ObjectRef, name string, refs []kubeapply.ObjectRef) map[string][]kubeapply.ObjectRef {
	if m == nil {
		m = map[string][]kubeapply.ObjectRef{}
	}
	if len(refs) == 0 {
		refs = []kubeapply.ObjectRef{{}}
	}
	have := m[name]
	for _, r := range refs {
		if !slices.ContainsFunc(have, func(h kubeapply.ObjectRef) bool { return h.Covers(r) }) {
			have = append(have, r)
		}
	}
	m[name] = have
	return m
}
