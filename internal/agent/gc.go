package agent

import "runtime/debug"

// defaultGCPercent is the collector's target when GOGC is not set. Each
// health resync decodes every object and its live copy, and the runtime
// keeps the pages the heap grew to until well after: the lower target
// keeps that bump small, for a few more collections of a heap of a few
// MB (docs/benchmarks.md, section "Agent").
const defaultGCPercent = 50

// tuneGC sets the collector's target to defaultGCPercent unless the
// environment chose one.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
