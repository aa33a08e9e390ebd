package render

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flotilla.io/flotilla/internal/bundle"
)

// Renderer renders one bundle of a checkout with the options Resolve
// chose, within Limits: a render past its time limit returns a
// *LimitError when the limit passes, whatever the render is doing.
type Renderer interface {
	Render(ctx context.Context, root string, b bundle.Bundle, e Effective) ([]*unstructured.Unstructured, error)
}

// InProcess renders in the calling process. A render past its time limit
// is abandoned, not stopped (Helm's template engine cannot be
// interrupted): its goroutine runs on to its end, so a template that
// never ends keeps a core busy. renderworker's pool kills such a render.
type InProcess struct {
	Options Options
}

type rendered struct {
	objs []*unstructured.Unstructured
	err  error
}

// Render renders as RenderEffective does, with Options.Limits.Timeout as
// a deadline.
func (r InProcess) Render(ctx context.Context, root string, b bundle.Bundle, e Effective) ([]*unstructured.Unstructured, error) {
	lim := r.Options.Limits.WithDefaults()
	if lim.Timeout < 0 {
		return RenderEffective(ctx, root, b, e, r.Options)
	}
	rctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	done := make(chan rendered, 1)
	go func() {
		objs, err := RenderEffective(rctx, root, b, e, r.Options)
		done <- rendered{objs, err}
	}()
	select {
	case res := <-done:
		if res.err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			// A step that watches the context (a chart download) gave up
			// at the deadline: the bundle's time ran out.
			return nil, lim.TimeoutError()
		}
		return res.objs, res.err
	case <-rctx.Done():
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("rendering bundle %s: %w", b.Path, err)
		}
		return nil, lim.TimeoutError()
	}
}
