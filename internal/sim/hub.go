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
	args := append(slices.Clone(opts.Command[1:]), "--data-dir", opts.DataDir, "--listen", "127.0.0.1:0", "--log-level", "warn")
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

func (h *childHub) Usage() (Usage, bool) {
	u, err := procUsage(h.cmd.Process.Pid)
	return u, err == nil
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

// procUsage reads utime+stime and VmHWM of a process from /proc.
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
	if len(fields) < 13 {
		return Usage{}, errors.New("reading stat: too few fields")
	}
	// utime and stime are fields 14 and 15 of stat, in clock ticks of
	// USER_HZ, which is 100 on Linux.
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Usage{}, fmt.Errorf("reading stat: %w", err)
	}
	u := Usage{CPUSeconds: float64(ut+st) / 100}
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
