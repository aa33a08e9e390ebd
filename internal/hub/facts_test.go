package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/wire"
)

func TestValidateFacts(t *testing.T) {
	many := func(n int, f string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(f, i)
		}
		return out
	}
	tests := []struct {
		name  string
		facts wire.Facts
		want  string // "" for accepted
	}{
		{"real facts", wire.Facts{Arch: "arm64", OS: "linux", KubernetesVersion: "v1.30.2+k3s1", Nodes: 1, MemoryGiB: 2, RuntimeClasses: []string{"wasmtime"}, APIVersions: many(60, "g%d.example/v1")}, ""},
		{"too many API versions", wire.Facts{APIVersions: many(maxAPIVersions+1, "g%d/v1")}, "API versions"},
		{"too many RuntimeClasses", wire.Facts{RuntimeClasses: many(maxRuntimeClasses+1, "rc%d")}, "RuntimeClasses"},
		{"a long value", wire.Facts{Arch: strings.Repeat("a", maxFactString+1)}, "longer than"},
		{"negative nodes", wire.Facts{Nodes: -1}, "negative"},
		{"too many bytes", wire.Facts{APIVersions: many(maxAPIVersions, strings.Repeat("x", 40)+"%d/v1")}, "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := jsonSize(tc.facts)
			err := validateFacts(tc.facts, data)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func jsonSize(f wire.Facts) (int, error) {
	data, err := json.Marshal(f)
	return len(data), err
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// lockedBuffer collects log output from concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFactsStormCostsBoundedWork: one cluster reporting new facts 25
// times in a row causes one computation per facts interval, renders only
// the bundle that reads the changed fact, and logs none of it whole.
func TestFactsStormCostsBoundedWork(t *testing.T) {
	ctx := context.Background()
	fetcher := &dirFetcher{}
	clk := &testClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	var logs lockedBuffer
	h, db := newTestHubWith(t, fetcher, func(o *Options) {
		o.Now = clk.Now
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if err := db.CreateCluster(ctx, store.Cluster{ID: "c1", Name: "edge-1", Labels: map[string]string{"env": "dev"}, CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	fetcher.commit(t, "commit-1", map[string]string{
		"raw/cm.yaml":                  configMapYAML("raw", "v"),
		"chart/Chart.yaml":             "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
		"chart/templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caps\ndata:\n  n: {{ len .Capabilities.APIVersions | quote }}\n",
		"plain/Chart.yaml":             "apiVersion: v2\nname: plain\nversion: 0.1.0\n",
		"plain/templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
		"plain/templates/_helpers.tpl": "{{/* nothing here asks the cluster */}}\n",
	})
	if _, err := h.AddSource(ctx, wire.SourceSpec{Name: "fleet", Repo: "https://git.example/fleet", Targets: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	h.syncByName(ctx, "fleet")
	settle(t, h)
	start := testutil.ToFloat64(h.metrics.renders)
	if start != 3 {
		t.Fatalf("%v renders for three bundles", start)
	}
	for i := range 25 {
		f := wire.Facts{Arch: "arm64", APIVersions: []string{fmt.Sprintf("storm-%d.example/v1", i)}}
		if err := h.ReportStatus(ctx, "c1", wire.StatusReport{AppliedGeneration: 1, Bundles: []wire.BundleStatus{}, Facts: &f}); err != nil {
			t.Fatal(err)
		}
		settle(t, h)
	}
	// The first change computes at once (the chart that reads the API
	// versions renders again; the others do not), the 24 others wait.
	if got := testutil.ToFloat64(h.metrics.renders) - start; got != 1 {
		t.Errorf("%v renders after 25 facts reports within the interval, want 1", got)
	}
	if got := testutil.ToFloat64(h.metrics.factsDelays); got != 24 {
		t.Errorf("%v delayed facts changes, want 24", got)
	}
	// Once the interval has passed, the latest facts are computed once.
	clk.advance(DefaultFactsInterval)
	settle(t, h)
	if got := testutil.ToFloat64(h.metrics.renders) - start; got != 2 {
		t.Errorf("%v renders once the interval passed, want 2", got)
	}
	if strings.Contains(logs.String(), "storm-") {
		t.Errorf("facts logged whole:\n%s", logs.String())
	}
	// Oversized facts are refused and not stored.
	huge := wire.Facts{RuntimeClasses: make([]string, maxRuntimeClasses+1)}
	if err := h.ReportStatus(ctx, "c1", wire.StatusReport{Facts: &huge}); err == nil {
		t.Error("oversized facts accepted")
	}
}

// TestGenerationOverflowRefused: an agent claiming a generation near the
// end of int64 is refused, not overflowed into a store error.
func TestGenerationOverflowRefused(t *testing.T) {
	ctx := context.Background()
	h, db := newTestHub(t, &dirFetcher{})
	if err := db.CreateCluster(ctx, store.Cluster{ID: "c1", Name: "edge-1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, gen := range []int64{1<<63 - 1, maxGeneration, -1} {
		err := h.ReportStatus(ctx, "c1", wire.StatusReport{AppliedGeneration: gen, Bundles: []wire.BundleStatus{}})
		var he *Error
		if !errors.As(err, &he) || he.Kind != Invalid {
			t.Errorf("applied generation %d: %v, want Invalid", gen, err)
		}
	}
	// A generation ahead of the hub (a restore from an old backup) is
	// reissued above.
	if err := h.ReportStatus(ctx, "c1", wire.StatusReport{AppliedGeneration: 41, Bundles: []wire.BundleStatus{}}); err != nil {
		t.Fatal(err)
	}
	settle(t, h)
	m, err := db.GetManifest(ctx, "c1")
	if err != nil || m.Generation != 42 {
		t.Errorf("manifest generation %d (%v), want 42", m.Generation, err)
	}
}
