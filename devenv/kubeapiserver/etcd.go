package kubeapiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdAttempts bounds the retries when a port picked for etcd is taken by
// someone else before etcd binds it: embed offers no way to hand it a
// listener, so the race cannot be closed, only retried.
const etcdAttempts = 5

// startEtcd starts an embedded single-member etcd with its data in dir and
// returns it with its client URL once it serves.
func startEtcd(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	var lastErr error
	for range etcdAttempts {
		e, clientURL, err := startEtcdOnce(ctx, dir)
		if err == nil {
			return e, clientURL, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, "", err
		}
		lastErr = err
	}
	return nil, "", fmt.Errorf("starting etcd after %d attempts: %w", etcdAttempts, lastErr)
}

func startEtcdOnce(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", err
	}
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}

	cfg := embed.NewConfig()
	cfg.Name = "flotilla"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	// A test cluster loses nothing that matters on a crash, and fsync
	// dominates start-up and write latency on slow disks.
	cfg.UnsafeNoFsync = true
	// etcd logs through zap at info level by default; its failures reach
	// us through StartEtcd's error and Err().
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("starting etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("waiting for etcd: %w", err)
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", errors.New("waiting for etcd: not ready after 1m")
	case <-ctx.Done():
		e.Close()
		return nil, "", fmt.Errorf("waiting for etcd: %w", ctx.Err())
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The listeners
// are all held until every port is known, so the ports differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
