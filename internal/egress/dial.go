package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// RefusedError is a connection the policy did not let through.
type RefusedError struct {
	Host  string     // the name dialled, or the address itself
	Addr  netip.Addr // the address it resolved to
	Class Class
}

func (e *RefusedError) Error() string {
	who := e.Addr.String()
	if e.Host != "" && e.Host != who {
		who = e.Host + " (" + who + ")"
	}
	return fmt.Sprintf("%s is %s address; the hub fetches charts only from public addresses unless allowed with --allow-chart-host",
		who, e.Class.article())
}

// dialer connects only where the policy allows. The address is checked
// in the dialer's Control hook, which runs for each resolved address
// after the socket is made and before it connects: a refused address is
// never dialled, a name cannot resolve to one thing when checked and
// another when dialled (DNS rebinding), and redirects pass through the
// same hook.
type dialer struct {
	allow   *Allowlist
	timeout time.Duration
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	nd := net.Dialer{
		Timeout:   d.timeout,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			return d.check(host, address)
		},
	}
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			return nil, &TimeoutError{What: "connecting to " + host, Limit: d.timeout}
		}
		return nil, err
	}
	return conn, nil
}

// check decides one resolved address (host:port as the dialer gives it)
// for the name that was asked for.
func (d *dialer) check(host, address string) error {
	ipPort, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialer hands Control a numeric address; anything else is
		// not something this policy can judge, so it is not dialled.
		return fmt.Errorf("dialing %q: not a numeric address", address)
	}
	ip := ipPort.Addr()
	if d.allow.AllowsName(host) || d.allow.AllowsAddr(ip) {
		return nil
	}
	if c := Classify(ip); c != Public {
		return &RefusedError{Host: host, Addr: ip.WithZone(""), Class: c}
	}
	return nil
}
