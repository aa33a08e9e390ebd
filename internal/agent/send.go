package agent

import (
	"context"

	"flotilla.io/flotilla/internal/hubclient"
)

// sendLoop delivers the outbox to the hub. It runs apart from the
// reconcile loop so that a slow, cut or black-holed link never delays an
// apply: the reconciler only records status, this loop carries it.
func (a *Agent) sendLoop(ctx context.Context, client *hubclient.Agent) {
	b := newBackoff(a.clock, a.opts.RetryBase, a.opts.RetryMax)
	for ctx.Err() == nil {
		r, ok := a.outbox.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-a.outbox.notify:
			}
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
		err := client.Status(sctx, r)
		cancel()
		if err == nil {
			b.reset()
			// The hub took a report: this build works, which is what a
			// release on trial must show its supervisor.
			a.sup.healthy()
			if err := a.outbox.delivered(r); err != nil {
				a.log.Warn("recording delivered status", "err", err)
			}
			a.log.Debug("status delivered", "generation", r.AppliedGeneration, "transitions", len(r.Transitions), "facts", r.Facts != nil)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("reporting status failed, will retry", "err", err)
		if hubclient.RetryAfter(err) > 0 {
			// The hub asked for patience: give it, whatever the poller sees.
			if !b.wait(ctx, hubclient.RetryAfter(err)) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-a.clock.After(b.next(0)):
		case <-a.reachable:
			// The poller just heard from the hub: status that waited out
			// an outage goes now, not after the rest of the backoff.
			b.reset()
		}
	}
}

// hubAnswered tells the sender that the hub is reachable again.
func (a *Agent) hubAnswered() {
	select {
	case a.reachable <- struct{}{}:
	default:
	}
}
