package hubserver

import (
	"context"
	"fmt"

	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/renderworker"
)

// RepoLimits bound what one checkout of a source may hold (see
// gitsource.Options); a commit past them is the source's fetch error.
type RepoLimits struct {
	MaxFiles int
	MaxBytes int64
	MaxDepth int
}

// newRenderer returns what the hub renders with: a pool of worker
// processes when cfg names a worker command, else nil (the hub renders in
// its own process). close stops the pool.
func newRenderer(ctx context.Context, cfg Config, ropts render.Options) (r render.Renderer, close func(), err error) {
	if len(cfg.RenderWorker) == 0 {
		return nil, func() {}, nil
	}
	pool, err := renderworker.New(ctx, renderworker.Options{
		Command:     cfg.RenderWorker,
		Workers:     cfg.RenderWorkers,
		MemoryLimit: cfg.RenderWorkerMemory,
		Render:      ropts,
		Logger:      ropts.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting render workers: %w", err)
	}
	return pool, func() { _ = pool.Close() }, nil
}
