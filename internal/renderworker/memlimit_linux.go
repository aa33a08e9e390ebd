package renderworker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setHardLimit caps the address space at what it is now plus limit: the
// Go runtime reserves about a gigabyte of address space at start, which
// an absolute cap would have to guess.
func setHardLimit(limit int64) error {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return fmt.Errorf("reading the worker's memory size: %w", err)
	}
	field, _, _ := strings.Cut(string(data), " ")
	pages, err := strconv.ParseInt(field, 10, 64)
	if err != nil {
		return fmt.Errorf("reading the worker's memory size: %q: %w", field, err)
	}
	max := uint64(pages*int64(os.Getpagesize()) + limit)
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: max, Max: max}); err != nil {
		return fmt.Errorf("limiting the worker's memory: %w", err)
	}
	return nil
}
