//go:build !linux

package renderworker

import "syscall"

// workerAttr: outside Linux a worker whose hub dies ends when it next
// reads its closed input.
func workerAttr() *syscall.SysProcAttr { return nil }
