// Package hubserver runs a hub: it prepares the data directory (database,
// CA, serving certificate, signing key, admin config), wires the store, the
// Git fetcher, the hub and its HTTP API, and serves them over TLS.
package hubserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"flotilla.io/flotilla/internal/gitsource"
	"flotilla.io/flotilla/internal/hub"
	"flotilla.io/flotilla/internal/hub/api"
	"flotilla.io/flotilla/internal/render"
	"flotilla.io/flotilla/internal/store/sqlstore"
)

// Config configures a hub.
type Config struct {
	DataDir string
	// Listen is the TCP address to serve on, e.g. ":8443" or "127.0.0.1:0".
	Listen string
	// AdvertiseURL is the URL agents reach the hub at; derived from the
	// listener when empty.
	AdvertiseURL string
	// LongPoll bounds a manifest long-poll; 60 s when zero.
	LongPoll time.Duration
	// Render configures every render: what it may fetch (Egress), the
	// limits of a bundle's render and of chart downloads, remote
	// Kustomize. Start sets the chart cache and the logger.
	Render render.Options
	// RenderWorker is the command of a render worker process, e.g. the
	// hub's own binary and "render-worker": renders then run in
	// RenderWorkers such processes (GOMAXPROCS when zero), each killed at
	// the render's time limit or past RenderWorkerMemory. Empty renders
	// in the hub's process (tests, tools).
	RenderWorker       []string
	RenderWorkers      int
	RenderWorkerMemory int64
	// Repo bounds what one checkout may hold; zero fields take
	// gitsource's defaults.
	Repo RepoLimits
	// RenderCacheBytes bounds the render cache; hub.DefaultRenderCacheBytes
	// when zero.
	RenderCacheBytes int64
	// Limits bound what callers can make the hub hold; zero fields take
	// the defaults documented on Limits.
	Limits Limits
	// Now is the clock; time.Now when nil. Tests inject one.
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is a running hub.
type Server struct {
	// URL is the advertised URL.
	URL string
	// AdminConfig is the path of the operator's admin.yaml.
	AdminConfig string

	// ln counts connections by source and kind; tests read it.
	ln     *limitListener
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup
	close  func() error

	mu  sync.Mutex // guards err
	err error
}

// Start prepares the data directory and serves until ctx ends or Close is
// called.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A mistyped pattern stops the hub before it touches its data
	// directory.
	if err := cfg.Render.Egress.Validate(); err != nil {
		return nil, err // names the flag and the pattern
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	url := advertiseURL(cfg.AdvertiseURL, ln.Addr())
	id, err := loadIdentity(cfg.DataDir, url, time.Now())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("preparing data directory: %w", err)
	}
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, dbFile), sqlstore.Options{Logger: log})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("opening database: %w", err)
	}
	fetcher, err := gitsource.New(gitsource.Options{Dir: filepath.Join(cfg.DataDir, "git"), Logger: log,
		MaxFiles: cfg.Repo.MaxFiles, MaxBytes: cfg.Repo.MaxBytes, MaxDepth: cfg.Repo.MaxDepth})
	if err != nil {
		ln.Close()
		db.Close()
		return nil, fmt.Errorf("preparing Git cache: %w", err)
	}
	ropts := cfg.Render
	ropts.ChartCacheDir, ropts.Logger = filepath.Join(cfg.DataDir, "charts"), log
	renderer, closeRenderer, err := newRenderer(ctx, cfg, ropts)
	if err != nil {
		ln.Close()
		db.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, err := hub.New(hub.Options{Store: db, CA: id.ca, SigningKey: id.signing, Fetcher: fetcher, URL: url, LongPoll: cfg.LongPoll, Now: cfg.Now, Logger: log, Metrics: reg,
		Render: ropts, Renderer: renderer, RenderParallel: cfg.RenderWorkers, RenderCacheBytes: cfg.RenderCacheBytes})
	if err != nil {
		ln.Close()
		db.Close()
		closeRenderer()
		return nil, err
	}
	lim := cfg.Limits.withDefaults()
	handler := api.New(api.Options{Hub: h, AdminTokenHash: id.adminHash, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Limits: lim.Requests, Now: cfg.Now, Logger: log})
	srv := &http.Server{
		Handler:           answerRefused(handler),
		ConnContext:       connContext,
		ReadHeaderTimeout: positive(lim.ReadHeaderTimeout),
		IdleTimeout:       positive(lim.IdleTimeout),
		MaxHeaderBytes:    max(lim.MaxHeaderBytes, 0),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	runCtx, cancel := context.WithCancel(ctx)
	// Long-polls end with the base context, so shutdown does not wait on them.
	srv.BaseContext = func(net.Listener) context.Context { return runCtx }
	pool := x509.NewCertPool()
	pool.AddCert(id.ca.Cert)
	tlsLn := newLimitListener(runCtx, ln, listenerOptions{
		TLS: &tls.Config{
			Certificates: []tls.Certificate{id.tlsCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
		Limits: lim,
		IsAgent: func(ctx context.Context, leaf *x509.Certificate) bool {
			return h.Authenticate(ctx, leaf.Subject.CommonName, leaf.SerialNumber.Text(16)) == nil
		},
		Metrics: newConnMetrics(reg),
		Logger:  log,
	})
	s := &Server{URL: url, AdminConfig: filepath.Join(cfg.DataDir, adminFile), ln: tlsLn, cancel: cancel, done: runCtx.Done(), close: func() error { closeRenderer(); return db.Close() }}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := h.Run(runCtx); err != nil {
			s.fail(fmt.Errorf("running hub: %w", err))
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("serving: %w", err))
		}
	}()
	go func() {
		<-runCtx.Done()
		shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Info("hub serving", "url", url, "listen", ln.Addr().String(), "dataDir", cfg.DataDir)
	return s, nil
}

func (s *Server) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.cancel()
}

// Close stops the hub and waits for it.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	cerr := s.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.err, cerr)
}

// Wait blocks until ctx ends or the hub fails, then stops it.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	return s.Close()
}
