package renderworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
)

// DefaultMemoryLimit is what one worker may use: with a worker per core
// of a 2-core, 2 GB hub, half of its memory at most goes to renders.
const DefaultMemoryLimit = 512 << 20

// FlagMemoryLimit is the hub flag that raises MemoryLimit, named in the
// refusal of a bundle that needs more.
const FlagMemoryLimit = "--render-worker-memory"

// startTimeout bounds a worker's start and handshake when the caller's
// context sets no deadline.
const startTimeout = 30 * time.Second

// Options configure a Pool.
type Options struct {
	// Command starts a worker; the hub passes [os.Executable(),
	// "render-worker"].
	Command []string
	// Env is a worker's whole environment: nothing of the hub's (secrets,
	// proxy variables) reaches it unless it is listed here.
	Env []string
	// Workers is how many worker processes run; zero means GOMAXPROCS.
	Workers int
	// MemoryLimit is what one worker may add to its memory; a render
	// that needs more is refused. Zero means DefaultMemoryLimit,
	// negative no limit.
	MemoryLimit int64
	// Render are the options of every render, Limits and the egress
	// policy included. Every field crosses to the workers but Logger: a
	// worker logs to its stderr (see Logger).
	Render render.Options
	// Logger receives the pool's messages, and the workers' output at
	// debug level.
	Logger *slog.Logger
}

// Pool renders bundles in worker processes; it is a render.Renderer. A
// render waits for a free worker, and a worker whose render passes the
// time limit, dies or runs out of memory is killed and replaced by a
// new one on the next render.
type Pool struct {
	command     []string
	env         []string
	hello       []byte
	limits      render.Limits // with defaults
	memoryLimit int64
	maxAnswer   int
	log         *slog.Logger
	// slots holds one entry per worker the pool may run: a running worker,
	// or nil for one to start. A render takes one and puts one back.
	slots chan *worker

	mu     sync.Mutex // guards the following
	closed bool
	live   map[*worker]bool // started and not yet reaped
}

var _ render.Renderer = (*Pool)(nil)

// New starts the workers; ctx bounds their start only.
func New(ctx context.Context, opts Options) (*Pool, error) {
	if len(opts.Command) == 0 {
		return nil, errors.New("starting render workers: no command")
	}
	n := opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	mem := opts.MemoryLimit
	if mem == 0 {
		mem = DefaultMemoryLimit
	}
	ropts, err := encodeOptions(opts.Render)
	if err != nil {
		return nil, err
	}
	hello, err := json.Marshal(hello{Version: protocolVersion, MemoryLimit: max(mem, 0), Options: ropts})
	if err != nil {
		return nil, fmt.Errorf("encoding hello: %w", err)
	}
	p := &Pool{
		command:     opts.Command,
		env:         append([]string{}, opts.Env...), // never nil: nil would pass the hub's environment
		hello:       hello,
		limits:      opts.Render.Limits.WithDefaults(),
		memoryLimit: mem,
		log:         opts.Logger,
		slots:       make(chan *worker, n),
		live:        map[*worker]bool{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.maxAnswer = 1 << 30
	if b := p.limits.MaxBytes; b > 0 && b < 1<<29 {
		// Objects cross as about the JSON the limit counts; the rest is
		// framing and the release namespace.
		p.maxAnswer = int(2*b) + 1<<20
	}
	for range n {
		w, err := p.start(ctx)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.slots <- w
	}
	return p, nil
}

// start starts a worker the pool tracks until it is reaped.
func (p *Pool) start(ctx context.Context) (*worker, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	w, err := startWorker(ctx, p.command, p.env, p.hello, p.log)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		w.kill()
		return nil, errClosed
	}
	p.live[w] = true
	go func() {
		<-w.done
		p.mu.Lock()
		delete(p.live, w)
		p.mu.Unlock()
	}()
	p.log.Debug("render worker started", "pid", w.pid)
	return w, nil
}

var errClosed = errors.New("render pool closed")

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Render renders one bundle in a worker, as render.RenderEffective would
// in this process, within the pool's limits.
func (p *Pool) Render(ctx context.Context, root string, b bundle.Bundle, e render.Effective) ([]*unstructured.Unstructured, error) {
	if b.Err != nil {
		return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, b.Err)
	}
	req, err := encodeRequest(root, b, e)
	if err != nil {
		return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, err)
	}
	var w *worker
	select {
	case w = <-p.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, ctx.Err())
	}
	defer func() { p.slots <- w }()
	if p.isClosed() {
		return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, errClosed)
	}
	if w == nil || w.exited() {
		if w, err = p.start(ctx); err != nil {
			return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, err)
		}
	}
	objs, err := p.renderOn(ctx, w, b.Path, req)
	if w.exited() {
		w = nil
	}
	return objs, err
}

// renderOn sends one request to w; w is dead after any error but a
// render error.
func (p *Pool) renderOn(ctx context.Context, w *worker, path string, req []byte) ([]*unstructured.Unstructured, error) {
	rctx := ctx
	if p.limits.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, p.limits.Timeout)
		defer cancel()
	}
	data, err := w.call(rctx, req, p.maxAnswer)
	if err != nil {
		return nil, p.failed(ctx, rctx, w, path, err)
	}
	var resp response
	if err := json.Unmarshal(data, &resp); err != nil {
		w.kill()
		return nil, fmt.Errorf("rendering bundle %s: render worker %d answered: %w", path, w.pid, err)
	}
	if resp.Err != nil {
		return nil, resp.Err.err()
	}
	objs := make([]*unstructured.Unstructured, len(resp.Objects))
	for i, raw := range resp.Objects {
		var m map[string]any
		if err := utiljson.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("rendering bundle %s: decoding object %d from render worker %d: %w", path, i, w.pid, err)
		}
		objs[i] = &unstructured.Unstructured{Object: m}
	}
	return objs, nil
}

// failed says why a call to w failed; w is dead.
func (p *Pool) failed(ctx, rctx context.Context, w *worker, path string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("rendering bundle %s: %w", path, ctx.Err())
	}
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		p.log.Warn("render worker killed", "pid", w.pid, "bundle", path, "reason", "timeout", "timeout", p.limits.Timeout)
		return p.limits.TimeoutError()
	}
	if p.isClosed() {
		return fmt.Errorf("rendering bundle %s: %w", path, errClosed)
	}
	var died *diedError
	if errors.As(err, &died) && died.outOfMemory && p.memoryLimit > 0 {
		p.log.Warn("render worker killed", "pid", w.pid, "bundle", path, "reason", "memory", "limit", p.memoryLimit)
		return &render.LimitError{What: fmt.Sprintf("bundle needs more than %s of memory to render", resource.NewQuantity(p.memoryLimit, resource.BinarySI)), Flag: FlagMemoryLimit}
	}
	p.log.Warn("render worker failed", "pid", w.pid, "bundle", path, "err", err)
	return fmt.Errorf("rendering bundle %s: %w", path, err)
}

// Close kills the workers; renders under way fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	live := make([]*worker, 0, len(p.live))
	for w := range p.live {
		live = append(live, w)
	}
	p.mu.Unlock()
	for _, w := range live {
		w.kill()
	}
	return nil
}

// encodeRequest writes one render for a worker.
func encodeRequest(root string, b bundle.Bundle, e render.Effective) ([]byte, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("finding checkout: %w", err)
	}
	values, err := encodeValues(e.Values)
	if err != nil {
		return nil, err
	}
	e.Values = nil
	data, err := json.Marshal(request{Root: abs, Path: b.Path, Effective: e, Values: values})
	if err != nil {
		return nil, fmt.Errorf("encoding render request: %w", err)
	}
	return data, nil
}
