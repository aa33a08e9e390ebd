package sim

import (
	"bufio"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"flotilla.io/flotilla/internal/hub/api"
	"flotilla.io/flotilla/internal/hubserver"
)

// inProcessHub runs the hub in the test's process: its CPU and memory
// cannot be told apart from the agents', so Usage reports none.
type inProcessHub struct{ s *hubserver.Server }

func (h inProcessHub) AdminConfig() string { return h.s.AdminConfig }
func (inProcessHub) Usage() (Usage, bool)  { return Usage{}, false }
func (h inProcessHub) Close() error        { return h.s.Close() }

func TestRunSmallFleetWithFlapping(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub and 200 agents")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := hubserver.Start(ctx, hubserver.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", LongPoll: time.Second,
		// Every simulated agent comes from loopback.
		Limits: hubserver.Limits{Requests: api.Limits{NoLimitFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	opts := Options{
		Clusters: 200, Bundles: 5, ObjectsPerBundle: 10, Groups: 4, Changes: 3,
		FlapFraction: 0.3, Seed: 7, Hub: inProcessHub{srv}, WorkDir: t.TempDir(),
		IdleWindow:    2 * time.Second,
		Online:        [2]time.Duration{200 * time.Millisecond, time.Second},
		Offline:       [2]time.Duration{100 * time.Millisecond, 600 * time.Millisecond},
		ChangeTimeout: 2 * time.Minute,
	}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var table strings.Builder
	_ = rep.WriteTable(&table)
	t.Logf("\n%s", table.String())
	if rep.Converged != opts.Clusters {
		t.Errorf("converged = %d, want %d", rep.Converged, opts.Clusters)
	}
	if rep.Flapping != 60 {
		t.Errorf("flapping = %d, want 60", rep.Flapping)
	}
	if rep.Violations != 0 {
		t.Errorf("violations = %d", rep.Violations)
	}
	if len(rep.PerChange) != opts.Changes {
		t.Fatalf("got %d change results, want %d", len(rep.PerChange), opts.Changes)
	}
	for _, c := range rep.PerChange {
		if c.Applied != c.Of {
			t.Errorf("change %d: %d of %d steady clusters applied it", c.Change, c.Applied, c.Of)
		}
	}
	// Byte accounting: a change edits one object per bundle, so the delta
	// is well under shipping the changed bundles whole, and both are real.
	if rep.BytesPerChangePerCluster <= 0 || rep.FullBundleBytesPerChangePerCluster <= 0 {
		t.Errorf("bytes per change %v, full bundles %v: want both > 0", rep.BytesPerChangePerCluster, rep.FullBundleBytesPerChangePerCluster)
	}
	// One object of ten changes per bundle, as a merge patch: a fifth of
	// the whole bundles leaves room for TLS, HTTP/2 and status overhead
	// (about a tenth was measured).
	if rep.BytesPerChangePerCluster*5 >= rep.FullBundleBytesPerChangePerCluster {
		t.Errorf("bytes per change %v not below a fifth of full bundles %v", rep.BytesPerChangePerCluster, rep.FullBundleBytesPerChangePerCluster)
	}
	if rep.IdleBytesPerClusterPerMinute <= 0 {
		t.Errorf("idle bytes = %v: long-polls renewed every second cost nothing?", rep.IdleBytesPerClusterPerMinute)
	}
	if rep.HubCPUSeconds != -1 || rep.HubPeakRSSBytes != -1 {
		t.Errorf("in-process hub usage = %v, %v; want -1, -1", rep.HubCPUSeconds, rep.HubPeakRSSBytes)
	}
	// Every group's source tracks the same repository with no per-group
	// customization: one render per bundle and commit, shared by all.
	if want := int64(opts.Bundles * (opts.Changes + 1)); rep.Renders != want {
		t.Errorf("renders = %d, want %d", rep.Renders, want)
	}
}

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", []float64{2}, Percentiles{2, 2, 2, 2}},
		{"hundred", seq(100), Percentiles{P50: 50, P90: 90, P99: 99, Max: 100}},
		{"unsorted", []float64{3, 1, 2}, Percentiles{P50: 2, P90: 3, P99: 3, Max: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, percentiles(tc.in)); diff != "" {
				t.Errorf("percentiles (-want +got):\n%s", diff)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestParseCounter(t *testing.T) {
	tests := []struct {
		name, text string
		want       int64
		wantErr    bool
	}{
		{"found", "# HELP x\nflotilla_hub_renders_total_other 3\nflotilla_hub_renders_total 42\n", 42, false},
		{"float", "flotilla_hub_renders_total 1.5e+03\n", 1500, false},
		{"missing", "go_goroutines 7\n", -1, true},
		{"garbage", "flotilla_hub_renders_total abc\n", -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCounter(bufio.NewScanner(strings.NewReader(tc.text)), rendersMetric)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseCounter = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzParseCounter(f *testing.F) {
	f.Add("flotilla_hub_renders_total 42\n")
	f.Add("flotilla_hub_renders_total\n")
	f.Add("flotilla_hub_renders_total \n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseCounter(bufio.NewScanner(strings.NewReader(s)), rendersMetric)
	})
}
