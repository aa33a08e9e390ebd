package sim

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/token"
	"flotilla.io/flotilla/internal/wire"
)

// enrollAll creates one bootstrap token per group and enrolls every agent
// with its group's token, a bounded number at a time. It returns the
// agents and the wall time enrollment took.
func enrollAll(ctx context.Context, op *hubclient.Operator, opts Options) ([]*vagent, time.Duration, error) {
	toks := make([]token.Token, opts.Groups)
	for g := range toks {
		resp, err := op.CreateToken(ctx, wire.TokenRequest{Labels: map[string]string{"group": groupName(g)}, TTL: wire.Duration(24 * time.Hour)})
		if err != nil {
			return nil, 0, fmt.Errorf("creating token: %w", err)
		}
		if toks[g], err = token.Parse(resp.Token); err != nil {
			return nil, 0, fmt.Errorf("parsing token: %w", err)
		}
	}
	flaps := flapping(opts.Clusters, opts.FlapFraction, opts.Seed)
	agents := make([]*vagent, opts.Clusters)
	start := time.Now()
	var done atomic.Int64
	stopProgress := progress(ctx, opts.Logger, "enrolling", &done, opts.Clusters)
	defer stopProgress()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.EnrollConcurrency)
	for i := range agents {
		g.Go(func() error {
			a, err := enroll(gctx, toks[i%opts.Groups], i, opts.Seed)
			if err != nil {
				return fmt.Errorf("enrolling cluster %d: %w", i, err)
			}
			a.flap = flaps[i]
			agents[i] = a
			done.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return agents, time.Since(start), nil
}

// progress logs done of total every 30 s until stopped.
func progress(ctx context.Context, log *slog.Logger, what string, done *atomic.Int64, total int) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				log.Info(what, "done", done.Load(), "of", total)
			}
		}
	}()
	return cancel
}

// enroll joins one agent, retrying while the hub sheds load.
func enroll(ctx context.Context, tok token.Token, i int, seed uint64) (*vagent, error) {
	name := fmt.Sprintf("sim-%06d", i)
	csr, keyPEM, err := pki.NewCSR(name)
	if err != nil {
		return nil, fmt.Errorf("making CSR: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	var resp wire.EnrollResponse
	for attempt := 0; ; attempt++ {
		resp, err = hubclient.Enroll(ctx, tok, name, csr)
		ra := hubclient.RetryAfter(err)
		if err == nil || attempt >= 20 || ra == 0 {
			break
		}
		t := time.NewTimer(ra/2 + time.Duration(rng.Int64N(int64(ra))))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if err != nil {
		return nil, err
	}
	pub, err := base64.StdEncoding.DecodeString(resp.SigningKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("hub sent a malformed signing key")
	}
	c, err := newClient(hubclient.AgentConfig{URL: tok.HubURL, CAPEM: resp.CA, CertPEM: resp.Certificate, KeyPEM: string(keyPEM)})
	if err != nil {
		return nil, err
	}
	return &vagent{idx: i, id: resp.ClusterID, name: name, pub: ed25519.PublicKey(pub), c: c, rng: rng, change: -1}, nil
}
