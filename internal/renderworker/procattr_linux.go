package renderworker

import "syscall"

// workerAttr puts a worker in its own process group, so that a terminal's
// Ctrl-C reaches the hub alone (which then closes its pool), and has the
// kernel kill it if the hub dies without closing it.
func workerAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
