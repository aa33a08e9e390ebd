package renderworker

import "runtime/debug"

// setMemoryLimit bounds the worker's own memory: the Go runtime collects
// harder from three quarters of limit on (debug.SetMemoryLimit), and
// the address space may grow by limit and no more (setHardLimit), past
// which the runtime dies with "fatal error: out of memory", which the
// pool reports as the bundle's. Zero means no limit.
func setMemoryLimit(limit int64) error {
	if limit <= 0 {
		return nil
	}
	debug.SetMemoryLimit(limit / 4 * 3)
	return setHardLimit(limit)
}
