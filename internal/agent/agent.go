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
	"os"
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
	// PollTimeout bounds one long-poll request; above the hub's hold time.
	PollTimeout time.Duration
	Logger      *slog.Logger
}

// Agent reconciles one cluster.
type Agent struct {
	opts  Options
	log   *slog.Logger
	store store

	// kick wakes the reconcile loop; it holds at most one pending wake-up.
	kick chan struct{}

	mu sync.Mutex // guards the following
	// current is the verified desired state the reconciler enforces.
	current *desired
	// refusal is why the last manifest from the hub was refused, if it was.
	refusal error
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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{opts: opts, log: log, store: store{dir: opts.StateDir}, kick: make(chan struct{}, 1)}, nil
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
	kept, err := a.store.load(id)
	if err != nil {
		// Not fatal: the hub sends the manifest again.
		a.log.Error("kept state is unusable, waiting for the hub", "err", err)
	} else if kept != nil {
		a.log.Info("reconciling kept manifest", "generation", kept.manifest.Generation)
		a.setCurrent(kept)
	}
	client, err := hubclient.NewAgent(id.client)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { a.pollLoop(ctx, id, client); return nil })
	g.Go(func() error { a.reconcileLoop(ctx, client); return nil })
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
	b := newBackoff(time.Second, time.Minute)
	for {
		id, err := enroll(ctx, a.opts.StateDir, a.opts.Token, a.opts.Name)
		if err == nil {
			a.log.Info("enrolled", "cluster", id.Name, "id", id.ClusterID, "hub", id.HubURL)
			return id, nil
		}
		var he *hubclient.Error
		if errors.As(err, &he) || ctx.Err() != nil {
			// The hub answered: retrying the same token will not help.
			return nil, fmt.Errorf("enrolling: %w", err)
		}
		a.log.Warn("enrolling failed, retrying", "err", err)
		if !b.wait(ctx) {
			return nil, ctx.Err()
		}
	}
}

func (a *Agent) setCurrent(d *desired) {
	a.mu.Lock()
	a.current, a.refusal = d, nil
	a.mu.Unlock()
	a.wake()
}

func (a *Agent) setRefusal(err error) {
	a.mu.Lock()
	a.refusal = err
	a.mu.Unlock()
	a.wake()
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
