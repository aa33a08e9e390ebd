// Command agent-delta measures what an agent update costs on the wire:
// given two builds of the agent, it prints their sizes, the whole new
// build gzip-compressed (what an agent gets when the hub lacks the build
// it runs), the delta between them, and the time each takes to make and
// apply. hack/bench-update.sh builds two consecutive commits and runs it.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"flotilla.io/flotilla/internal/bindelta"
)

func main() {
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: agent-delta [-json] OLD NEW")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type report struct {
	OldBytes, NewBytes, GzipBytes, DeltaBytes int64
	DeltaPercent                              float64
	DiffSeconds, ApplySeconds                 float64
	// MemFromOSMiB is runtime.MemStats.Sys once the delta is made: all
	// the memory the process obtained from the OS by then (both builds,
	// the whole build gzipped, the suffix array, the runtime's own), an
	// upper bound of what making the delta needs, not a heap peak.
	MemFromOSMiB float64
}

func run(oldPath, newPath string, asJSON bool) error {
	old, err := os.ReadFile(oldPath)
	if err != nil {
		return err
	}
	new, err := os.ReadFile(newPath)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(new)
	_ = zw.Close()

	start := time.Now()
	patch, err := bindelta.Diff(old, new)
	if err != nil {
		return err
	}
	diffTime := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	start = time.Now()
	n, err := bindelta.Apply(io.Discard, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(patch)), int64(len(new)))
	if err != nil {
		return err
	}
	if n != int64(len(new)) {
		return fmt.Errorf("delta made %d bytes, want %d", n, len(new))
	}
	r := report{
		OldBytes: int64(len(old)), NewBytes: int64(len(new)), GzipBytes: int64(gz.Len()), DeltaBytes: int64(len(patch)),
		DeltaPercent: 100 * float64(len(patch)) / float64(len(new)),
		DiffSeconds:  diffTime.Seconds(), ApplySeconds: time.Since(start).Seconds(),
		MemFromOSMiB: float64(ms.Sys) / (1 << 20),
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("old %d bytes, new %d bytes\nwhole, gzip -9: %d bytes\ndelta: %d bytes (%.2f%% of the new build)\nmaking the delta: %.1f s (%.0f MiB from the OS); applying it: %.2f s\n",
		r.OldBytes, r.NewBytes, r.GzipBytes, r.DeltaBytes, r.DeltaPercent, r.DiffSeconds, r.MemFromOSMiB, r.ApplySeconds)
	return nil
}
