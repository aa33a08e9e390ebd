package sim

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"flotilla.io/flotilla/internal/hubclient"
)

// client is the real agent protocol client (internal/hubclient.Agent)
// whose connections run over a counting net.Conn, so that the sim can
// measure each agent's wire bytes and cut its link.
type client struct {
	*hubclient.Agent
	bw *byteCounter
}

// byteCounter counts wire bytes (TLS records included) of one agent and
// remembers its open connections so that a link fault can cut them.
type byteCounter struct {
	read, written atomic.Int64

	mu    sync.Mutex // guards conns
	conns map[*countingConn]struct{}
}

func (b *byteCounter) total() int64 { return b.read.Load() + b.written.Load() }

// cut closes every open connection, as a link that drops does.
func (b *byteCounter) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		_ = c.Conn.Close()
	}
	clear(b.conns)
}

type countingConn struct {
	net.Conn
	b *byteCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.b.written.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.b.mu.Lock()
	delete(c.b.conns, c)
	c.b.mu.Unlock()
	return c.Conn.Close()
}

// newClient returns an enrolled agent's protocol client.
func newClient(cfg hubclient.AgentConfig) (*client, error) {
	bc := &byteCounter{conns: map[*countingConn]struct{}{}}
	d := &net.Dialer{Timeout: 10 * time.Second}
	cfg.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &countingConn{Conn: c, b: bc}
		bc.mu.Lock()
		bc.conns[cc] = struct{}{}
		bc.mu.Unlock()
		return cc, nil
	}
	a, err := hubclient.NewAgent(cfg)
	if err != nil {
		return nil, err
	}
	return &client{Agent: a, bw: bc}, nil
}

// offline drops the agent's connections, as a link that goes down does.
func (c *client) offline() {
	c.CloseIdleConnections()
	c.bw.cut()
}
