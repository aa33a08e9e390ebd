package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"flotilla.io/flotilla/devenv/kubeapiserver"
	"flotilla.io/flotilla/internal/agent"
	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/hubclient"
	"flotilla.io/flotilla/internal/hubserver"
	"flotilla.io/flotilla/internal/kubeapply"
	"flotilla.io/flotilla/internal/testenv/gitserver"
	"flotilla.io/flotilla/internal/wire"
)

// fleet is one hub, one Git repository and the agents of a test.
type fleet struct {
	t       *testing.T
	dir     string
	work    *gitserver.Work
	repoURL string

	hubAddr string // fixed after the first start, so agents find a restarted hub
	hub     *hubserver.Server
	op      *hubclient.Operator
	agents  map[string]*runningAgent
}

type runningAgent struct {
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	dir := t.TempDir()
	gitRoot := filepath.Join(dir, "git")
	bare := filepath.Join(gitRoot, "fleet.git")
	gitserver.InitBare(t, bare)
	srv := gitserver.Start(t, gitRoot)
	f := &fleet{t: t, dir: dir, work: gitserver.NewWork(t, bare), repoURL: srv.URL("fleet.git"), hubAddr: "127.0.0.1:0", agents: map[string]*runningAgent{}}
	t.Cleanup(func() {
		for name := range f.agents {
			f.stopAgent(name)
		}
		f.stopHub()
	})
	return f
}

func (f *fleet) hubDir() string { return filepath.Join(f.dir, "hub") }

func (f *fleet) startHub() {
	f.t.Helper()
	srv, err := hubserver.Start(context.Background(), hubserver.Config{
		DataDir:  f.hubDir(),
		Listen:   f.hubAddr,
		LongPoll: 2 * time.Second,
		Logger:   testLogger(f.t, nil, "hub"),
	})
	if err != nil {
		f.t.Fatalf("starting hub: %v", err)
	}
	f.hub = srv
	u, err := url.Parse(srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	f.hubAddr = u.Host
	cfg, err := clientconfig.Load(srv.AdminConfig)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.op, err = hubclient.NewOperator(cfg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) stopHub() {
	if f.hub == nil {
		return
	}
	if err := f.hub.Close(); err != nil {
		f.t.Errorf("stopping hub: %v", err)
	}
	f.hub = nil
}

// token creates a bootstrap token for clusters labelled env.
func (f *fleet) token(env string) string {
	f.t.Helper()
	resp, err := f.op.CreateToken(context.Background(), wire.TokenRequest{Labels: map[string]string{"env": env}, TTL: wire.Duration(time.Hour), MaxUses: 1})
	if err != nil {
		f.t.Fatalf("creating token: %v", err)
	}
	return resp.Token
}

// startAgent runs an agent for cluster in-process; token may be empty
// after the first start.
func (f *fleet) startAgent(name string, cluster *kubeapiserver.Server, token string) {
	f.t.Helper()
	f.startAgentWith(name, cluster, token, nil)
}

// startAgentWith is startAgent with the agent's options adjusted by tune.
func (f *fleet) startAgentWith(name string, cluster *kubeapiserver.Server, token string, tune func(*agent.Options)) {
	f.t.Helper()
	logs := &syncBuffer{}
	log := testLogger(f.t, logs, "agent-"+name)
	cfg := cluster.Config()
	cfg.QPS, cfg.Burst = 100, 200
	applier, err := kubeapply.New(cfg, kubeapply.Options{FieldManager: "flotilla", ParentNamespace: "flotilla-system", Logger: log})
	if err != nil {
		f.t.Fatal(err)
	}
	opts := agent.Options{
		StateDir:    filepath.Join(f.dir, "agent-"+name),
		Token:       token,
		Name:        name,
		Applier:     applier,
		Resync:      2 * time.Second,
		PollTimeout: 10 * time.Second,
		Logger:      log,
	}
	if tune != nil {
		tune(&opts)
	}
	a, err := agent.New(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { ra.done <- a.Run(ctx) }()
	f.agents[name] = ra
}

func (f *fleet) stopAgent(name string) {
	ra, ok := f.agents[name]
	if !ok {
		return
	}
	ra.cancel()
	if err := <-ra.done; err != nil {
		f.t.Errorf("agent %s: %v", name, err)
	}
	delete(f.agents, name)
}

func (f *fleet) cluster(name string) (wire.ClusterInfo, error) {
	cs, err := f.op.Clusters(context.Background())
	if err != nil {
		return wire.ClusterInfo{}, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return wire.ClusterInfo{}, fmt.Errorf("cluster %s not listed", name)
}

// converged checks that a cluster is Ready with applied == desired.
func (f *fleet) converged(name string) error {
	c, err := f.cluster(name)
	if err != nil {
		return err
	}
	if c.State != wire.StateReady || c.AppliedGeneration != c.DesiredGeneration || c.DesiredGeneration == 0 {
		return fmt.Errorf("cluster %s is %s (%s), applied %d of %d", name, c.State, c.Message, c.AppliedGeneration, c.DesiredGeneration)
	}
	return nil
}

// convergedOn is converged with n bundles reported.
func (f *fleet) convergedOn(name string, n int) error {
	if err := f.converged(name); err != nil {
		return err
	}
	c, err := f.cluster(name)
	if err != nil {
		return err
	}
	if len(c.Bundles) != n {
		return fmt.Errorf("cluster %s reports %d bundles, want %d", name, len(c.Bundles), n)
	}
	return nil
}

func (f *fleet) bundle(name string) (wire.BundleInfo, error) {
	bs, err := f.op.Bundles(context.Background())
	if err != nil {
		return wire.BundleInfo{}, err
	}
	for _, b := range bs {
		if b.Name == name {
			return b, nil
		}
	}
	return wire.BundleInfo{}, fmt.Errorf("bundle %s not listed", name)
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func clientset(t *testing.T, s *kubeapiserver.Server) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// syncBuffer collects log lines for assertions.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs to the test's output (shown on failure or with -v) and,
// when given, to a buffer.
func testLogger(t *testing.T, also *syncBuffer, role string) *slog.Logger {
	w := &testWriter{t: t, also: also}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("role", role)
}

type testWriter struct {
	t    *testing.T
	also *syncBuffer
}

func (w *testWriter) Write(p []byte) (int, error) {
	if w.also != nil {
		w.also.Write(p)
	}
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
