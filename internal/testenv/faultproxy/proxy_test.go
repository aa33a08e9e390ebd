package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line and reads it back within timeout.
func roundTrip(c net.Conn, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

func TestModes(t *testing.T) {
	p, err := Start("", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}

	p.Set(BlackHole)
	if err := roundTrip(c, 200*time.Millisecond); err == nil {
		t.Fatal("black hole: the round trip went through")
	}
	p.Set(Pass)
	c = dial()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("pass after black hole: %v", err)
	}

	p.SetDelay(50 * time.Millisecond)
	p.Set(Slow)
	start := time.Now()
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("slow: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("slow round trip took %v, want at least two delays", d)
	}

	p.Set(Cut)
	if err := roundTrip(c, 5*time.Second); err == nil {
		t.Fatal("cut: the open connection still works")
	}
	if err := roundTrip(dial(), 5*time.Second); err == nil {
		t.Fatal("cut: a new connection works")
	}
	p.Set(Pass)
	if err := roundTrip(dial(), 5*time.Second); err != nil {
		t.Fatalf("pass after cut: %v", err)
	}
}
