package sim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"

	"flotilla.io/flotilla/internal/wire"
)

// Report is the outcome of a run. The JSON fields are the contract of
// `flotilla sim --report json`; the others are shown in the table only.
type Report struct {
	Clusters  int `json:"clusters"`
	Converged int `json:"converged"`
	// ConvergeSeconds: from each commit to each steady (non-flapping)
	// agent's status report of it, over all changes.
	ConvergeSeconds Percentiles `json:"convergeSeconds"`
	HubCPUSeconds   float64     `json:"hubCPUSeconds"`
	HubPeakRSSBytes int64       `json:"hubPeakRSSBytes"`
	// RenderWorkersPeakRSSBytes sums the peak RSS of the hub's render
	// worker processes; their CPU is in HubCPUSeconds.
	RenderWorkersPeakRSSBytes          int64   `json:"renderWorkersPeakRSSBytes"`
	BytesPerChangePerCluster           float64 `json:"bytesPerChangePerCluster"`
	FullBundleBytesPerChangePerCluster float64 `json:"fullBundleBytesPerChangePerCluster"`
	IdleBytesPerClusterPerMinute       float64 `json:"idleBytesPerClusterPerMinute"`
	Renders                            int64   `json:"renders"`
	EnrollSeconds                      float64 `json:"enrollSeconds"`

	InitialSyncSeconds float64        `json:"-"`
	IdleHubCPUFraction float64        `json:"-"` // cores used by the hub while idle; -1 unknown
	PerChange          []ChangeResult `json:"-"`
	Flapping           int            `json:"-"`
	SimCPUSeconds      float64        `json:"-"` // the agents' own CPU, competing with the hub's
	Violations         int64          `json:"-"`
	Errors             int64          `json:"-"` // failed requests, retried
}

// ChangeResult is one change's convergence over steady agents.
type ChangeResult struct {
	Change, Applied, Of int
	Seconds             Percentiles
}

// Percentiles of a distribution, in seconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// percentiles uses the nearest-rank method.
func percentiles(xs []float64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return round3(s[max(i, 0)])
	}
	return Percentiles{P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Max: round3(s[len(s)-1])}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// fullBundleBytes is what shipping each changed bundle whole, gzipped,
// would cost one cluster per change: for every bundle whose objects
// differ from the previous change, the gzip of its objects' canonical
// bytes as one JSON document, averaged over the changes.
func fullBundleBytes(f *fleet, changes int) float64 {
	if changes == 0 {
		return 0
	}
	f.mu.RLock()
	witness := maps(f.witness)
	f.mu.RUnlock()
	var total, n int
	for c := 1; c <= changes; c++ {
		prev, ok1 := witness[c-1]
		cur, ok2 := witness[c]
		if !ok1 || !ok2 {
			continue
		}
		n++
		for _, b := range cur.Bundles {
			if i := slices.IndexFunc(prev.Bundles, func(p wire.BundleRef) bool { return p.Name == b.Name }); i >= 0 && slices.Equal(prev.Bundles[i].Objects, b.Objects) {
				continue
			}
			objs := map[string]json.RawMessage{}
			for _, h := range b.Objects {
				objs[h] = f.object(h)
			}
			total += gzipSize(objs)
		}
	}
	if n == 0 {
		return 0
	}
	return float64(total) / float64(n)
}

func maps(m map[int]wire.Manifest) map[int]wire.Manifest {
	out := make(map[int]wire.Manifest, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func gzipSize(v any) int {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_ = json.NewEncoder(zw).Encode(v)
	_ = zw.Close()
	return buf.Len()
}

// WriteJSON writes the report's JSON contract.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("clusters", "%d (%d flapping)", r.Clusters, r.Flapping)
	row("converged", "%d", r.Converged)
	row("enroll", "%.1f s", r.EnrollSeconds)
	row("initial sync", "%.1f s", r.InitialSyncSeconds)
	for _, c := range r.PerChange {
		row(fmt.Sprintf("change %d", c.Change), "%d/%d applied; p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s", c.Applied, c.Of, c.Seconds.P50, c.Seconds.P90, c.Seconds.P99, c.Seconds.Max)
	}
	row("converge (all changes)", "p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s", r.ConvergeSeconds.P50, r.ConvergeSeconds.P90, r.ConvergeSeconds.P99, r.ConvergeSeconds.Max)
	row("bytes per change per cluster", "%.0f (whole changed bundles, gzip: %.0f)", r.BytesPerChangePerCluster, r.FullBundleBytesPerChangePerCluster)
	row("idle bytes per cluster per minute", "%.0f", r.IdleBytesPerClusterPerMinute)
	if r.HubCPUSeconds >= 0 {
		row("hub CPU", "%.1f s (idle: %.3f cores)", r.HubCPUSeconds, r.IdleHubCPUFraction)
		row("hub peak RSS", "%.1f MiB (render workers: %.1f MiB)", float64(r.HubPeakRSSBytes)/(1<<20), float64(r.RenderWorkersPeakRSSBytes)/(1<<20))
	} else {
		row("hub CPU, peak RSS", "unknown (hub not started by the sim)")
	}
	row("sim CPU", "%.1f s", r.SimCPUSeconds)
	row("renders", "%d", r.Renders)
	row("violations", "%d", r.Violations)
	row("failed requests (retried)", "%d", r.Errors)
	return tw.Flush()
}
