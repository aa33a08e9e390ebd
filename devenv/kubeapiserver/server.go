package kubeapiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// Options configures a Server.
type Options struct {
	Dir    string       // data dir: etcd data, certs, keys; created if missing; reused data is kept
	Port   int          // secure port on 127.0.0.1; 0 picks a free one
	Logger *slog.Logger // may be nil
}

// Server is a running kube-apiserver with its embedded etcd.
type Server struct {
	url    string
	config *rest.Config // loopback admin config; never handed out, only copies
	pki    pki
	log    *slog.Logger
	etcd   *embed.Etcd
	cancel context.CancelFunc // stops the API server

	runDone chan struct{} // closed when the API server's Run returned
	runErr  error         // Run's result; read only after runDone is closed

	stopOnce sync.Once
	stopErr  error
}

// readyTimeout bounds how long Start waits for /readyz.
const readyTimeout = 2 * time.Minute

// Start starts etcd and the API server and returns once /readyz is ok and
// the default namespace exists. ctx bounds the start-up only; the server
// runs until Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("starting kube-apiserver: Options.Dir is empty")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	routeKlog(opts.Logger)

	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	p, err := ensurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("preparing certificates: %w", err)
	}

	// The listener is held from here on, so nobody can take the port
	// between choosing it and serving on it.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.Port))
	if err != nil {
		return nil, fmt.Errorf("listening for kube-apiserver: %w", err)
	}

	began := time.Now()
	etcd, etcdURL, err := startEtcd(ctx, filepath.Join(dir, "etcd"))
	if err != nil {
		ln.Close()
		return nil, err
	}
	log.Debug("etcd ready", "url", etcdURL, "took", time.Since(began))

	// The server outlives ctx: keep its values (a logger, say) but not its
	// cancellation. Contextual klog output goes to this server's logger.
	runCtx, cancel := context.WithCancel(klog.NewContext(context.WithoutCancel(ctx), klogLogger(opts.Logger)))
	chain, err := newAPIServer(runCtx, ln, etcdURL, p)
	if err != nil {
		cancel()
		ln.Close()
		etcd.Close()
		return nil, fmt.Errorf("configuring kube-apiserver: %w", err)
	}
	prepared, err := chain.PrepareRun()
	if err != nil {
		cancel()
		ln.Close()
		etcd.Close()
		return nil, fmt.Errorf("preparing kube-apiserver: %w", err)
	}

	s := &Server{
		url:     fmt.Sprintf("https://%s", ln.Addr()),
		config:  rest.CopyConfig(chain.GenericAPIServer.LoopbackClientConfig),
		pki:     p,
		log:     log,
		etcd:    etcd,
		cancel:  cancel,
		runDone: make(chan struct{}),
	}
	go func() {
		defer close(s.runDone)
		s.runErr = prepared.Run(runCtx)
		if s.runErr != nil {
			log.Error("kube-apiserver stopped", "err", s.runErr)
		}
	}()

	if err := s.waitReady(ctx); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			log.Warn("stopping kube-apiserver after failed start", "err", stopErr)
		}
		return nil, err
	}
	log.Info("kube-apiserver ready", "url", s.url, "dir", dir, "took", time.Since(began))
	return s, nil
}

// waitReady polls /readyz and the default namespace until both answer, the
// server dies, ctx ends or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	dc, err := discovery.NewDiscoveryClientForConfig(s.Config())
	if err != nil {
		return fmt.Errorf("creating readiness client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		lastErr = s.ready(ctx, dc.RESTClient())
		if lastErr == nil {
			return nil
		}
		select {
		case <-s.runDone:
			return fmt.Errorf("waiting for kube-apiserver: it stopped: %w", s.runErr)
		case err := <-s.etcd.Err():
			return fmt.Errorf("waiting for kube-apiserver: etcd failed: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-apiserver: %w (last: %w)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

func (s *Server) ready(ctx context.Context, rc rest.Interface) error {
	body, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	if string(body) != "ok" {
		return fmt.Errorf("readyz: %q", body)
	}
	// Tests create objects in "default" at once; the namespace controller
	// makes it shortly after /readyz may already say ok.
	if err := rc.Get().AbsPath("/api/v1/namespaces/default").Do(ctx).Error(); err != nil {
		return fmt.Errorf("default namespace: %w", err)
	}
	return nil
}

// Config returns an admin client config for this process (a copy each
// call). It authenticates with the server's loopback token, which is valid
// until Stop; its rate limit is raised so bulk tests are not throttled.
func (s *Server) Config() *rest.Config {
	c := rest.CopyConfig(s.config)
	c.QPS = 1000
	c.Burst = 10000
	return c
}

// URL returns the server's base URL, https://127.0.0.1:port.
func (s *Server) URL() string { return s.url }

// Stop stops the API server, then etcd, and waits for both. It may be
// called more than once; later calls return the first result. The data
// dir is left in place for the next Start.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.runDone
		s.etcd.Close()
		if s.runErr != nil {
			s.stopErr = fmt.Errorf("stopping kube-apiserver: %w", s.runErr)
		}
		s.log.Debug("kube-apiserver stopped", "url", s.url)
	})
	return s.stopErr
}
