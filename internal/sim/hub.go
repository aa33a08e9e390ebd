package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"flotilla.io/flotilla/internal/clientconfig"
)

// Hub is the hub a run measures.
type Hub interface {
	// AdminConfig is the path of the operator's admin.yaml.
	AdminConfig() string
	// Usage is the hub's CPU time and peak RSS so far; false when the sim
	// cannot see them (a hub in this process or elsewhere).
	Usage() (Usage, bool)
	Close() error
}

// Usage is what a hub process has consumed.
type Usage struct {
	CPUSeconds   float64
	PeakRSSBytes int64
	// WorkersPeakRSSBytes sums the peak RSS of the hub's child processes
	// (its render workers); their CPU time is in CPUSeconds.
	WorkersPeakRSSBytes int64
}

// ExternalHub is a hub the sim did not start, named by its admin.yaml.
type ExternalHub string

func (h ExternalHub) AdminConfig() string { return string(h) }
func (ExternalHub) Usage() (Usage, bool)  { return Usage{}, false }
func (ExternalHub) Close() error          { return nil }

// ChildHubOptions starts a hub as a child process.
type ChildHubOptions struct {
	// Command runs a hub when given "--data-dir D --listen A" more flags,
	// e.g. {"/usr/bin/flotilla", "hub"}.
	Command []string
	// Args are more flags, after the sim's own (so they may override
	// --log-level, say).
	Args    []string
	DataDir string
	Logger  *slog.Logger
}

// childHub is `flotilla hub` in its own process, so that its CPU time and
// peak RSS are read honestly from /proc and not mixed with the agents'.
type childHub struct {
	cmd   *exec.Cmd
	admin string
	done  chan error
}

// StartChildHub starts the hub and waits until it serves.
func StartChildHub(ctx context.Context, opts ChildHubOptions) (Hub, error) {
	if len(opts.Command) == 0 {
		return nil, errors.New("starting hub: no command")
	}
	// Every agent comes from loopback: the per-address limits meant for
	// strangers would refuse the fleet.
	args := append(slices.Clone(opts.Command[1:]), "--data-dir", opts.DataDir, "--listen", "127.0.0.1:0", "--log-level", "warn", "--no-limit-from", "127.0.0.0/8")
	args = append(args, opts.Args...)
	cmd := exec.Command(opts.Command[0], args...)
	logPath := filepath.Join(filepath.Dir(opts.DataDir), "hub.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating hub log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting hub: %w", err)
	}
	h := &childHub{cmd: cmd, admin: filepath.Join(opts.DataDir, "admin.yaml"), done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait(); logFile.Close() }()
	if opts.Logger != nil {
		opts.Logger.Info("hub started", "pid", cmd.Process.Pid, "log", logPath)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := clientconfig.Load(h.admin); err == nil {
			if err := healthy(ctx, h.admin); err == nil {
				return h, nil
			}
		}
		select {
		case err := <-h.done:
			return nil, fmt.Errorf("hub exited at start (%v); see %s", err, logPath)
		case <-ctx.Done():
			h.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.Close()
			return nil, fmt.Errorf("hub did not serve within 30 s; see %s", logPath)
		}
	}
}

func (h *childHub) AdminConfig() string { return h.admin }

// Usage is the hub's and its render workers' CPU time, and their peak
// RSS apart.
func (h *childHub) Usage() (Usage, bool) {
	pid := h.cmd.Process.Pid
	u, err := procUsage(pid)
	if err != nil {
		return Usage{}, false
	}
	for _, child := range childrenOf(pid) {
		if cu, err := procUsage(child); err == nil {
			u.CPUSeconds += cu.CPUSeconds
			u.WorkersPeakRSSBytes += cu.PeakRSSBytes
		}
	}
	return u, true
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func (h *childHub) Close() error {
	_ = h.cmd.Process.Signal(os.Interrupt)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	return nil
}

// procUsage reads the CPU time of a process and of its children it
// waited for (utime+stime+cutime+cstime: render workers it replaced), and
// its VmHWM, from /proc.
func procUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("reading stat: %w", err)
	}
	// Fields after the command name, which may hold spaces: ") S ppid ...".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Usage{}, errors.New("reading stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 15 {
		return Usage{}, errors.New("reading stat: too few fields")
	}
	// utime, stime, cutime and cstime are fields 14 to 17 of stat, in
	// clock ticks of USER_HZ, which is 100 on Linux.
	var ticks int64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return Usage{}, fmt.Errorf("reading stat: %w", err)
		}
		ticks += n
	}
	u := Usage{CPUSeconds: float64(ticks) / 100}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("reading status: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return Usage{}, fmt.Errorf("reading VmHWM: %w", err)
			}
			u.PeakRSSBytes = kb << 10
		}
	}
	return u, nil
}
