package sim

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

// vagent is one virtual agent: it long-polls, fetches only the objects it
// does not hold, verifies everything, "applies" into memory and reports.
type vagent struct {
	idx  int
	id   string
	name string
	pub  ed25519.PublicKey
	c    *client
	flap bool
	rng  *rand.Rand // owned by the agent's goroutine

	// Owned by the agent's goroutine.
	gen    int64    // applied generation
	change int      // change index of the applied manifest, -1 before any
	held   []uint32 // sorted IDs of the objects it holds
	base   string   // digest of the applied manifest's content
	// unreported is an applied manifest whose status is not delivered yet.
	unreported *wire.Manifest
}

// flapPlan says when flapping agents go up and down.
type flapPlan struct {
	start, stop <-chan struct{} // flapping happens between the two
	online      [2]time.Duration
	offline     [2]time.Duration
}

func (a *vagent) run(ctx context.Context, f *fleet, plan flapPlan) {
	if !a.flap {
		a.serve(ctx, f)
		return
	}
	a.serve(untilClosed(ctx, plan.start), f)
	for {
		select {
		case <-ctx.Done():
			return
		case <-plan.stop:
			a.serve(ctx, f)
			return
		default:
		}
		online, cancel := context.WithTimeout(untilClosed(ctx, plan.stop), a.between(plan.online))
		a.serve(online, f)
		cancel()
		a.c.offline()
		t := time.NewTimer(a.between(plan.offline))
		select {
		case <-ctx.Done():
		case <-plan.stop:
		case <-t.C:
		}
		t.Stop()
	}
}

func (a *vagent) between(r [2]time.Duration) time.Duration {
	return r[0] + time.Duration(a.rng.Int64N(int64(r[1]-r[0])+1))
}

// untilClosed is ctx, also cancelled when ch closes.
func untilClosed(ctx context.Context, ch <-chan struct{}) context.Context {
	c, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-c.Done():
		}
	}()
	return c
}

// serve runs poll cycles until ctx ends.
func (a *vagent) serve(ctx context.Context, f *fleet) {
	for ctx.Err() == nil {
		if err := a.cycle(ctx, f); err != nil && ctx.Err() == nil {
			f.errs.Add(1)
			a.backoff(ctx, err)
		}
	}
}

// backoff waits what the hub asked for, else about a second.
func (a *vagent) backoff(ctx context.Context, err error) {
	d := 500*time.Millisecond + time.Duration(a.rng.Int64N(int64(time.Second)))
	if ra := hubclient.RetryAfter(err); ra > 0 {
		d = ra
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// cycle is one long-poll and, when it brings a manifest, fetch, verify,
// apply and report.
func (a *vagent) cycle(ctx context.Context, f *fleet) error {
	if m := a.unreported; m != nil {
		if err := a.report(ctx, *m); err != nil {
			return err
		}
		a.unreported = nil
		f.markApplied(a.idx, f.changeOf(*m), time.Now(), *m)
	}
	got, err := a.c.Manifest(ctx, a.gen, a.base)
	if err != nil || got == nil {
		return err
	}
	sm, err := wire.ResolveDelta(*got, f.content(a.base))
	if err != nil {
		return err
	}
	shipped := sm.Objects
	m, err := wire.VerifyManifest(a.pub, sm, a.id, a.gen)
	if errors.Is(err, wire.ErrOlderGeneration) {
		f.violations.Add(1)
		return err
	}
	if err != nil {
		return err
	}
	var all []string
	for _, b := range m.Bundles {
		all = append(all, b.Objects...)
	}
	ids := f.intern(all)
	shippedOK := a.keepShipped(f, shipped, all)
	var need []string
	for i, id := range ids {
		if !holds(a.held, id) && !shippedOK[all[i]] && !slices.Contains(need, all[i]) {
			need = append(need, all[i])
		}
	}
	if len(need) > 0 {
		objs, err := a.c.Objects(ctx, need)
		if err != nil {
			return err
		}
		for _, h := range need {
			data, ok := objs[h]
			if !ok || wire.Hash(data) != h {
				return errors.New("hub sent a missing or mismatched object")
			}
			f.remember(f.intern([]string{h})[0], data)
		}
	}
	change := f.changeOf(m)
	if m.Generation < a.gen || (change >= 0 && change < a.change) {
		f.violations.Add(1)
		return errors.New("manifest older than the one applied")
	}
	// Apply: the agent now holds exactly the objects of this manifest.
	slices.Sort(ids)
	a.held = slices.Compact(ids)
	a.base = f.keepContent(sm.Content)
	a.gen = m.Generation
	if change >= 0 {
		a.change = change
	}
	a.unreported = &m
	return nil
}

// keepShipped verifies the objects shipped with a manifest whose objects
// are named, as the real agent does, and returns those it now has.
func (a *vagent) keepShipped(f *fleet, shipped []wire.ShippedObject, named []string) map[string]bool {
	out := map[string]bool{}
	if len(shipped) == 0 {
		return out
	}
	names := make(map[string]bool, len(named))
	for _, h := range named {
		names[h] = true
	}
	held := func(h string) ([]byte, bool) {
		ids := f.intern([]string{h})
		if !holds(a.held, ids[0]) {
			return nil, false
		}
		data := f.object(h)
		return data, data != nil
	}
	for _, so := range shipped {
		if !names[so.Hash] {
			f.errs.Add(1)
			continue
		}
		data, err := f.resolve(so, held)
		if err != nil {
			f.errs.Add(1)
			continue
		}
		f.remember(f.intern([]string{so.Hash})[0], data)
		out[so.Hash] = true
	}
	return out
}

// report posts the applied generation, retrying until it is delivered.
func (a *vagent) report(ctx context.Context, m wire.Manifest) error {
	rep := wire.StatusReport{AppliedGeneration: m.Generation, Time: time.Now().UTC()}
	for _, b := range m.Bundles {
		rep.Bundles = append(rep.Bundles, wire.BundleStatus{Name: b.Name, State: wire.StateReady, Generation: m.Generation})
	}
	for {
		err := a.c.Status(ctx, rep)
		if err == nil || ctx.Err() != nil {
			return err
		}
		a.backoff(ctx, err)
	}
}
