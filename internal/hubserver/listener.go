package hubserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"flotilla.io/flotilla/internal/hub/api"
)

// connKind is what the listener knows a connection to be.
type connKind int

const (
	handshaking connKind = iota
	// agentConn presented a client certificate the hub issued and still
	// honours: never capped.
	agentConn
	// unauthConn is anything else: enrollments, operators, strangers.
	unauthConn
	// refusedConn is past its cap: answered once with 429, then closed.
	refusedConn
	// uncounted is closed unanswered: it holds no budget.
	uncounted
)

// limitListener completes each TLS handshake itself, in a goroutine of its
// own and within a deadline, so that a slow or silent client never holds
// up Accept, and then counts the connection by source address and kind.
// It yields *tls.Conn, so http.Server serves HTTP/2 on them as on its own.
type limitListener struct {
	inner   net.Listener
	tls     *tls.Config
	lim     Limits
	isAgent func(context.Context, *x509.Certificate) bool
	log     *slog.Logger
	metrics *connMetrics

	ready chan *tls.Conn
	stop  context.CancelFunc
	done  chan struct{} // closed when the listener closes
	once  sync.Once
	wg    sync.WaitGroup // the accept loop and handshakes in progress

	mu           sync.Mutex // guards the following
	perAddr      map[netip.Prefix]*addrConns
	unauthTotal  int
	refusedTotal int
	err          error // why the listener closed
}

// addrConns counts one source address's connections that are limited.
type addrConns struct{ handshaking, unauth, refused int }

// listenerOptions configure newLimitListener.
type listenerOptions struct {
	TLS    *tls.Config
	Limits Limits // with defaults filled in
	// IsAgent says whether a verified client certificate belongs to a
	// cluster the hub still honours (not revoked, not replaced).
	IsAgent func(context.Context, *x509.Certificate) bool
	Metrics *connMetrics
	Logger  *slog.Logger
}

// newLimitListener accepts from inner until Close is called; when ctx ends
// it stops handshaking and handing out connections (http.Server.Shutdown
// then closes it).
func newLimitListener(ctx context.Context, inner net.Listener, opts listenerOptions) *limitListener {
	ctx, stop := context.WithCancel(ctx)
	cfg := opts.TLS.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	l := &limitListener{
		inner: inner, tls: cfg, lim: opts.Limits, isAgent: opts.IsAgent, log: opts.Logger, metrics: opts.Metrics,
		ready: make(chan *tls.Conn), stop: stop, done: make(chan struct{}),
		perAddr: map[netip.Prefix]*addrConns{},
	}
	l.wg.Add(1)
	go l.acceptLoop(ctx)
	return l
}

// Accept returns the next connection whose handshake completed.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.err
	}
}

// Close stops accepting, ends handshakes in progress and waits for them.
// Connections already accepted belong to the server.
func (l *limitListener) Close() error {
	l.closeWith(net.ErrClosed)
	err := l.inner.Close()
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (l *limitListener) closeWith(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		l.stop()
		close(l.done)
	})
}

func (l *limitListener) Addr() net.Addr { return l.inner.Addr() }

func (l *limitListener) acceptLoop(ctx context.Context) {
	defer l.wg.Done()
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				l.closeWith(net.ErrClosed)
				return
			}
			// Out of file descriptors, say: wait as http.Server does, so
			// that the loop does not spin while connections close.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("accepting a connection failed", "err", err, "retryIn", delay)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		l.wg.Add(1)
		go l.handshake(ctx, c)
	}
}

// handshake completes c's TLS handshake, classifies it and hands it to
// Accept, or closes it.
func (l *limitListener) handshake(ctx context.Context, c net.Conn) {
	defer l.wg.Done()
	lc := l.admit(c)
	if lc == nil {
		l.metrics.refused("handshakes_per_addr")
		_ = c.Close()
		return
	}
	tc := tls.Server(lc, l.tls)
	if t := l.lim.HandshakeTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
		_ = lc.SetDeadline(time.Now().Add(t))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		l.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		l.metrics.refused("handshake_failed")
		_ = tc.Close()
		return
	}
	_ = lc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	agent := len(cs.VerifiedChains) > 0 && l.isAgent(ctx, cs.VerifiedChains[0][0])
	if !l.classify(lc, agent) {
		_ = tc.Close()
		return
	}
	select {
	case l.ready <- tc:
	case <-ctx.Done():
		_ = tc.Close()
	}
}

// admit counts a new connection as handshaking, or returns nil when its
// address has too many handshakes in progress. A source exempt from
// per-address limits (NoLimitFrom) is not counted by address.
func (l *limitListener) admit(c net.Conn) *limitedConn {
	lc := &limitedConn{Conn: c, l: l}
	var addr netip.Addr
	if tcp, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		addr = tcp.AddrPort().Addr().Unmap()
	}
	if l.lim.Requests.Exempt(addr) {
		return lc
	}
	lc.src, lc.byAddr = api.SourcePrefix(addr), true
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.perAddr[lc.src]
	if a == nil {
		a = &addrConns{}
		l.perAddr[lc.src] = a
	}
	if !under(a.handshaking, l.lim.MaxHandshakesPerAddr) {
		l.forgetLocked(lc.src, a)
		return nil
	}
	a.handshaking++
	return lc
}

// classify moves a connection out of handshaking: an agent's is never
// counted; any other takes the hub's unauthenticated budget and its
// address's (none for an exempt source), or a refusal, or is to be
// closed (false). The totals and the metrics count every source.
func (l *limitListener) classify(lc *limitedConn, agent bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrLocked(lc) // nil for an exempt source
	if a != nil {
		a.handshaking--
	}
	perAddr := a == nil || under(a.unauth, l.lim.MaxUnauthConnsPerAddr)
	switch {
	case agent:
		// An agent's connection holds no count of its address.
		lc.kind = agentConn
	case perAddr && under(l.unauthTotal, l.lim.MaxUnauthConns):
		lc.kind = unauthConn
		l.unauthTotal++
		if a != nil {
			a.unauth++
		}
	case (a == nil || a.refused < maxRefusalsPerAddr) && l.refusedTotal < maxRefusals:
		lc.kind = refusedConn
		l.refusedTotal++
		if a != nil {
			a.refused++
		}
		lc.hard = time.Now().Add(refusalLifetime)
		if !perAddr {
			lc.refusal = fmt.Sprintf("too many connections without a client certificate from %s: the limit is %d (hub flag --max-unauth-conns-per-addr)", lc.src, l.lim.MaxUnauthConnsPerAddr)
			l.metrics.refused("unauth_per_addr")
		} else {
			lc.refusal = fmt.Sprintf("too many connections without a client certificate to this hub: the limit is %d (hub flag --max-unauth-conns)", l.lim.MaxUnauthConns)
			l.metrics.refused("unauth_total")
		}
		// Nothing past the refusal's lifetime, whatever the server asks.
		_ = lc.Conn.SetDeadline(lc.hard)
	default:
		lc.kind = uncounted
		l.metrics.refused("refusals")
	}
	if a != nil && (lc.kind == agentConn || lc.kind == uncounted) {
		l.forgetLocked(lc.src, a)
	}
	if lc.kind == uncounted {
		return false
	}
	l.metrics.open(lc.kind, 1)
	return true
}

// release uncounts a closed connection.
func (l *limitListener) release(lc *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch lc.kind {
	case uncounted:
		return
	case unauthConn:
		l.unauthTotal--
	case refusedConn:
		l.refusedTotal--
	}
	if lc.kind != handshaking {
		l.metrics.open(lc.kind, -1)
	}
	if lc.kind == agentConn {
		return // its address may be forgotten already
	}
	// Any other connection keeps its address's entry while it is open.
	a := l.addrLocked(lc)
	if a == nil {
		return
	}
	switch lc.kind {
	case handshaking:
		a.handshaking--
	case unauthConn:
		a.unauth--
	case refusedConn:
		a.refused--
	}
	l.forgetLocked(lc.src, a)
}

// addrLocked is the entry that counts lc's address; nil for an exempt
// source.
func (l *limitListener) addrLocked(lc *limitedConn) *addrConns {
	if !lc.byAddr {
		return nil
	}
	return l.perAddr[lc.src]
}

// forgetLocked drops an address that holds nothing, so that the map is
// as large as the connections open, no larger.
func (l *limitListener) forgetLocked(src netip.Prefix, a *addrConns) {
	if *a == (addrConns{}) {
		delete(l.perAddr, src)
	}
}

// counts returns one address's counts and the hub-wide unauthenticated
// total, for tests.
func (l *limitListener) counts(src netip.Prefix) (addrConns, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var a addrConns
	if p := l.perAddr[src]; p != nil {
		a = *p
	}
	return a, l.unauthTotal
}

// limitedConn is the TCP connection under a *tls.Conn: closing it
// uncounts it, and a refused one keeps a hard deadline.
type limitedConn struct {
	net.Conn
	l *limitListener
	// Set before the connection is handed to the server, read after.
	src     netip.Prefix
	byAddr  bool // counted by its address; false for an exempt source
	kind    connKind
	hard    time.Time // no deadline past this, when set
	refusal string    // what a refused connection is told
	once    sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if !c.hard.IsZero() && (t.IsZero() || t.After(c.hard)) {
		return c.hard
	}
	return t
}

func (c *limitedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}
