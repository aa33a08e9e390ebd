package e2e

import (
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"flotilla.io/flotilla/internal/agent"
	"flotilla.io/flotilla/internal/kubeapply"
)

// applierVia returns an applier for cfg whose requests pass through wrap:
// the seam where these tests count or break an agent's API requests.
func applierVia(t *testing.T, cfg *rest.Config, log *slog.Logger, wrap func(http.RoundTripper) http.RoundTripper) *kubeapply.Applier {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	if wrap != nil {
		cfg.Wrap(wrap)
	}
	a, err := kubeapply.New(cfg, kubeapply.Options{FieldManager: "flotilla", ParentNamespace: "flotilla-system", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// via is a tune for startAgentWith: the agent applies to cfg through wrap.
func via(t *testing.T, cfg *rest.Config, wrap func(http.RoundTripper) http.RoundTripper) func(*agent.Options) {
	return func(o *agent.Options) { o.Applier = applierVia(t, cfg, o.Logger, wrap) }
}

// requestLog records every request an agent makes of its API server as
// "METHOD path?query".
type requestLog struct {
	next http.RoundTripper

	mu   sync.Mutex // guards reqs
	reqs []string
}

func (l *requestLog) wrap(next http.RoundTripper) http.RoundTripper {
	l.next = next
	return l
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.RequestURI())
	l.mu.Unlock()
	return l.next.RoundTrip(req)
}

// take returns and forgets the requests recorded.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// mentioning returns the requests whose path or query holds one of words.
func mentioning(reqs []string, words ...string) []string {
	var out []string
	for _, r := range reqs {
		if slices.ContainsFunc(words, func(w string) bool { return strings.Contains(r, w) }) {
			out = append(out, r)
		}
	}
	return out
}

// writes returns the requests that change something: not reads, not
// watches, not dry runs.
func writes(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if !strings.HasPrefix(r, "GET ") && !strings.Contains(r, "dryRun=") {
			out = append(out, r)
		}
	}
	return out
}

// watchFaults sits between an agent and its API server and breaks the
// agent's drift watch of ConfigMaps on demand: it ends the open watches,
// answers watches that resume with 410 Gone (as a server does that no
// longer holds that point), and holds the next list or watch until the
// test releases it. Everything else passes untouched.
type watchFaults struct {
	next http.RoundTripper
	// held receives the release of each request held.
	held chan func()

	mu      sync.Mutex // guards the following
	streams map[io.Closer]bool
	expire  bool   // answer resuming watches 410 Gone
	hold    string // "list" or "watch": hold the next such request
}

func newWatchFaults() *watchFaults {
	return &watchFaults{held: make(chan func(), 1), streams: map[io.Closer]bool{}}
}

func (f *watchFaults) wrap(next http.RoundTripper) http.RoundTripper {
	f.next = next
	return f
}

func (f *watchFaults) set(expire bool, hold string) {
	f.mu.Lock()
	f.expire, f.hold = expire, hold
	f.mu.Unlock()
}

// cut ends every open drift watch of ConfigMaps.
func (f *watchFaults) cut() {
	f.mu.Lock()
	open := slices.Collect(maps.Keys(f.streams))
	f.mu.Unlock()
	for _, s := range open {
		s.Close()
	}
}

// watching returns the number of drift watches open.
func (f *watchFaults) watching() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}

func (f *watchFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	// The drift watch selects every ApplySet member (older agents: those
	// of their own sets); prune's lists select one set by its id.
	sel := q.Get("labelSelector")
	if req.URL.Path != "/api/v1/configmaps" || (sel != kubeapply.LabelPartOf && !strings.HasPrefix(sel, kubeapply.LabelPartOf+" in ")) {
		return f.next.RoundTrip(req)
	}
	what := "list"
	if q.Get("watch") == "true" {
		what = "watch"
	}
	f.mu.Lock()
	expire := what == "watch" && f.expire && q.Get("resourceVersion") != ""
	hold := f.hold == what
	if hold {
		f.hold = ""
	}
	f.mu.Unlock()
	if expire {
		return gone(req), nil
	}
	if hold {
		release := make(chan struct{})
		f.held <- sync.OnceFunc(func() { close(release) })
		select {
		case <-release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil || what != "watch" || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	s := &stream{ReadCloser: resp.Body, f: f}
	f.mu.Lock()
	f.streams[s] = true
	f.mu.Unlock()
	resp.Body = s
	return resp, nil
}

// stream is a watch response body that leaves watchFaults when closed.
type stream struct {
	io.ReadCloser
	f    *watchFaults
	once sync.Once
}

func (s *stream) Close() error {
	s.once.Do(func() {
		s.f.mu.Lock()
		delete(s.f.streams, s)
		s.f.mu.Unlock()
	})
	return s.ReadCloser.Close()
}

// gone is the answer of an API server to a watch from a resource version
// it no longer holds.
func gone(req *http.Request) *http.Response {
	body := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}`
	return &http.Response{
		StatusCode: http.StatusGone,
		Status:     "410 Gone",
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}
