// Package faultproxy is a TCP proxy for tests that injects link faults
// between a client and a server: pass, cut (connections reset, new ones
// refused), black hole (connections hang, nothing flows) and slow (a delay
// on every chunk).
package faultproxy

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is the state of the simulated link.
type Mode int

const (
	// Pass forwards everything.
	Pass Mode = iota
	// Cut closes every open connection and every new one at once.
	Cut
	// BlackHole accepts connections but forwards nothing until the mode
	// changes; open connections hang.
	BlackHole
	// Slow forwards with the delay set by SetDelay before every chunk.
	Slow
)

func (m Mode) String() string {
	return [...]string{"pass", "cut", "black-hole", "slow"}[m]
}

// chunk is how much is forwarded at once; Slow delays each chunk.
const chunk = 4 << 10

// Proxy forwards TCP connections from its listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex // guards the following
	cond   *sync.Cond // signalled when mode or closed change
	mode   Mode
	delay  time.Duration
	conns  map[net.Conn]struct{}
	closed bool
}

// Start listens on 127.0.0.1 (port chosen by the system when addr is
// empty, else addr) and forwards to target.
func Start(addr, target string) (*Proxy, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for proxy: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the link's mode. Cut also closes every open connection.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	if m == Cut {
		p.closeConnsLocked()
	}
	p.cond.Broadcast()
}

// SetDelay sets the delay per chunk used in Slow mode.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// SetTarget changes where new connections go (a restarted server).
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.closeConnsLocked()
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

// track registers a connection; false when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// gate blocks while the link is black-holed and returns the delay to apply,
// or false when the connection must end (cut or closed).
func (p *Proxy) gate() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == BlackHole && !p.closed {
		p.cond.Wait()
	}
	if p.closed || p.mode == Cut {
		return 0, false
	}
	if p.mode == Slow {
		return p.delay, true
	}
	return 0, true
}

func (p *Proxy) handle(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrack(c)
	if _, ok := p.gate(); !ok {
		return
	}
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(up, c); up.Close(); c.Close() })
	wg.Go(func() { p.pipe(c, up); up.Close(); c.Close() })
	wg.Wait()
}

// pipe copies src to dst chunk by chunk, through the gate.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, chunk)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			delay, ok := p.gate()
			if !ok {
				return
			}
			if delay > 0 {
				time.Sleep(delay) // the simulated link's latency, not a test wait
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the other side is closed by handle
		}
	}
}
