package api

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestPool(t *testing.T) {
	ctx := context.Background()
	p := newPool(1, 20*time.Millisecond, "agent requests", "--max-agent-in-flight")
	release, err := p.acquire(ctx)
	if err != nil {
		t.Fatalf("first acquire: %v", err)
	}

	_, err = p.acquire(ctx)
	var he *httpError
	if !errors.As(err, &he) || he.code != http.StatusServiceUnavailable || he.retryAfter < time.Second || he.retryAfter > 5*time.Second {
		t.Fatalf("acquire past the size = %v, want 503 with Retry-After 1..5 s once it waited out the queue", err)
	}

	// A request that queues while the slot is taken is served when it frees.
	p.queueWait = time.Minute
	queued := make(chan error, 1)
	go func() {
		rel, err := p.acquire(ctx)
		if err == nil {
			rel()
		}
		queued <- err
	}()
	release()
	if err := <-queued; err != nil {
		t.Errorf("queued acquire = %v, want a slot once it freed", err)
	}

	// A caller that goes away stops waiting.
	release, _ = p.acquire(ctx)
	defer release()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.acquire(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire with a cancelled context = %v", err)
	}
}

func TestPoolUnbounded(t *testing.T) {
	p := newPool(-1, time.Millisecond, "x", "--x")
	for range 1000 {
		if _, err := p.acquire(context.Background()); err != nil {
			t.Fatalf("unbounded pool refused: %v", err)
		}
	}
}
