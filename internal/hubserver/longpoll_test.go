package hubserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/wire"
)

var pollingRE = regexp.MustCompile(`(?m)^flotilla_hub_agents_polling (\d+)`)

// waitPolling polls the hub's metrics until n agents hold a long-poll.
func waitPolling(t *testing.T, h *testHub, n int) {
	t.Helper()
	c := h2Client(h)
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", h.srv.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := pollingRE.FindSubmatch(b); m != nil {
			if got, _ := strconv.Atoi(string(m[1])); got == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %d long-polls: metrics say %q", n, pollingRE.Find(b))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSecondLongPollSupersedesFirst(t *testing.T) {
	h := startHubWith(t, time.Minute, nil)
	e := enrollKeep(t, h, "edge", nil)
	ctx := context.Background()
	sm, err := e.agent.Manifest(ctx, 0, "")
	if err != nil || sm == nil {
		t.Fatalf("first manifest = %v, %v", sm, err)
	}
	m, err := wire.DecodeManifest(*sm)
	if err != nil {
		t.Fatal(err)
	}
	have, base := m.Generation, wire.Hash(sm.Content)
	newAgent := func() *hubclient.Agent {
		a, err := hubclient.NewAgent(e.cfg) // a connection of its own
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.CloseIdleConnections)
		return a
	}

	first := make(chan error, 1)
	go func() {
		_, err := newAgent().Manifest(ctx, have, base)
		first <- err
	}()
	waitPolling(t, h, 1)

	secondCtx, stopSecond := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() {
		_, err := newAgent().Manifest(secondCtx, have, base)
		second <- err
	}()
	select {
	case err := <-first:
		var he *hubclient.Error
		if !errors.As(err, &he) || he.Status != http.StatusConflict || he.Reason != "Superseded" || he.RetryAfter <= 0 {
			t.Fatalf("first long-poll ended with %v, want 409 Superseded with Retry-After", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first long-poll was not answered when a second one came")
	}
	waitPolling(t, h, 1) // the second, the first having ended
	stopSecond()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("second long-poll ended with %v, want it held until its caller left", err)
	}
}

// An agent that restarts, or whose link dies unseen, leaves a long-poll
// behind on a connection nobody reads: polling again must work at once.
func TestRestartedAgentIsNotLockedOut(t *testing.T) {
	h := startHubWith(t, time.Minute, nil)
	e := enrollKeep(t, h, "edge", nil)
	ctx := context.Background()
	sm, err := e.agent.Manifest(ctx, 0, "")
	if err != nil || sm == nil {
		t.Fatalf("first manifest = %v, %v", sm, err)
	}
	m, _ := wire.DecodeManifest(*sm)

	// The dead process's poll: sent, never read, never closed.
	dead := dialTLS(t, h, e.cert)
	if _, err := fmt.Fprintf(dead, "GET /v1/agent/manifest?have=%d&base=%s HTTP/1.1\r\nHost: hub\r\n\r\n", m.Generation, url.QueryEscape(wire.Hash(sm.Content))); err != nil {
		t.Fatal(err)
	}
	waitPolling(t, h, 1)

	restarted, err := hubclient.NewAgent(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.CloseIdleConnections()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	again, err := restarted.Manifest(cctx, 0, "")
	if err != nil || again == nil {
		t.Fatalf("restarted agent's first poll = %v, %v; want its manifest at once", again, err)
	}
	// The dead poll was answered 409. Nobody would read it; the test
	// does, to know that it no longer waits: both are the same cluster's,
	// so the polling gauge cannot tell them apart.
	_ = dead.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(dead), nil)
	if err != nil {
		t.Fatalf("reading the dead poll's answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("the dead poll's answer = %d, want 409 once a newer poll came", resp.StatusCode)
	}
	// And the restarted agent's long-poll is held, not refused.
	pctx, stop := context.WithCancel(ctx)
	held := make(chan error, 1)
	go func() {
		_, err := restarted.Manifest(pctx, m.Generation, wire.Hash(sm.Content))
		held <- err
	}()
	waitPolling(t, h, 1)
	stop()
	if err := <-held; !errors.Is(err, context.Canceled) {
		t.Errorf("restarted agent's long-poll ended with %v, want it held until it left", err)
	}
}
