//go:build !linux

package renderworker

// setHardLimit does nothing outside Linux: the worker keeps only the
// runtime's soft limit there.
func setHardLimit(int64) error { return nil }
