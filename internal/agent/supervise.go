package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/wire"
)

// ExitUpdate is the exit status with which a supervised agent asks its
// supervisor to start the release it recorded for trial (EX_TEMPFAIL).
const ExitUpdate = 75

// ErrUpdateReady is returned by Run when a release is written beside the
// binary and recorded for trial: the process should exit with ExitUpdate.
var ErrUpdateReady = errors.New("agent release ready for trial")

// The supervisor tells its agent, through the environment, where the
// binary lives, whether it runs a release on trial, and on which file
// descriptor to say it is healthy.
const (
	envBinary = "FLOTILLA_AGENT_BINARY"
	envTrial  = "FLOTILLA_AGENT_TRIAL"
	envHealth = "FLOTILLA_AGENT_HEALTH_FD"
)

// nextSuffix and prevSuffix name the release on trial and the build it
// replaced, beside the binary.
const (
	nextSuffix = ".next"
	prevSuffix = ".prev"
)

// SuperviseOptions configure Supervise.
type SuperviseOptions struct {
	// Binary is the agent binary the supervisor runs (its own path): the
	// release on trial is written beside it, and replaces it once healthy.
	// Without InstallDir, Supervise says at start when its directory is
	// not writable (every update is then refused).
	Binary string
	// Args are the agent's arguments.
	Args []string
	// InstallDir, when set, is where the binary lives and updates are
	// written, for a Binary that cannot be replaced (a container
	// image's): the supervisor runs InstallDir/<name of Binary>, copied
	// from Binary at start when InstallDir has none or Binary is a new
	// build (see installShipped).
	InstallDir string
	// StateDir holds agent-update.json.
	StateDir string
	// Deadline is how long a release on trial has to report healthy;
	// DefaultUpdateDeadline when zero.
	Deadline time.Duration
	// StopGrace is how long an agent has to stop once asked; 20 s when
	// zero.
	StopGrace time.Duration
	Logger    *slog.Logger
}

// DefaultUpdateDeadline is how long a new release has to report healthy.
const DefaultUpdateDeadline = 5 * time.Minute

// Supervise runs the agent as its child until ctx ends: it restarts it when
// it exits (as systemd's Restart=always would, backing off from 1 s to
// 30 s), starts the release it recorded for trial when it exits with
// ExitUpdate, promotes that release once it reports healthy (it then
// replaces the binary; the one it replaced stays as BINARY.prev) and
// switches back to the binary when it exits or stays silent past the
// deadline, recording the failure for the agent to report. It is the
// process systemd starts; it holds no state but agent-update.json and
// stays small, so a bad release can take the agent down but not it.
func Supervise(ctx context.Context, o SuperviseOptions) error {
	if o.Deadline <= 0 {
		o.Deadline = DefaultUpdateDeadline
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	binDir := o.InstallDir
	if binDir == "" {
		binDir = filepath.Dir(o.Binary)
	}
	removeLeftovers(binDir, filepath.Base(o.Binary), o.StateDir, o.Logger)
	if o.InstallDir != "" {
		bin, err := installShipped(o.Binary, o.InstallDir, o.StateDir, o.Logger)
		if err != nil {
			return fmt.Errorf("installing the agent binary: %w", err)
		}
		o.Binary = bin
	} else if err := probeWritable(filepath.Dir(o.Binary)); err != nil {
		// The agent runs, but every release the hub names is refused:
		// say so now, not at the first update.
		o.Logger.Error("agent binary directory not writable: every agent update will be refused; give the supervisor a writable --install-dir",
			"dir", filepath.Dir(o.Binary), "err", err)
	}
	s := &supervisor{o: o, log: o.Logger}
	return s.run(ctx)
}

// removeLeftovers removes the temporary files of writes cut short by a
// crash or a kill: a download in the state directory, a release or a
// copy of the binary (named base) being written in binDir, a write
// probe. Supervise calls it before its agent starts, so none is being
// written; nothing else would ever remove them.
func removeLeftovers(binDir, base, stateDir string, log *slog.Logger) {
	patterns := []string{
		filepath.Join(stateDir, downloadFile+"*"), // and .release-download-* of earlier builds
		filepath.Join(binDir, atomicfile.TempPattern(base+nextSuffix)),
		filepath.Join(binDir, atomicfile.TempPattern(base)),
		filepath.Join(binDir, "."+base+nextSuffix+"-*"), // earlier builds' names
		filepath.Join(binDir, "."+base+"-*"),
		filepath.Join(binDir, ".write-probe-*"),
	}
	for _, p := range patterns {
		matches, _ := filepath.Glob(p)
		for _, m := range matches {
			switch err := os.Remove(m); {
			case err == nil:
				log.Info("removed a leftover temporary file", "file", m)
			case !errors.Is(err, os.ErrNotExist):
				log.Warn("removing a leftover temporary file", "file", m, "err", err)
			}
		}
	}
}

type supervisor struct {
	o   SuperviseOptions
	log *slog.Logger
}

func (s *supervisor) run(ctx context.Context) error {
	backoff := time.Second
	for ctx.Err() == nil {
		rec, err := loadUpdateRecord(s.o.StateDir)
		if err != nil {
			s.log.Error("agent update record refused, starting the installed binary", "err", err)
			rec = updateRecord{}
		}
		bin, onTrial := s.o.Binary, rec.Trial != nil
		if onTrial {
			bin = s.o.Binary + nextSuffix
			if rec.Trial.Runs > 0 {
				// A supervisor died during this trial: the release may
				// have taken it down (a memory limit kills a container
				// whole), so it is not started again.
				s.rollBack(rec, fmt.Sprintf("release %s was on trial when the agent's supervisor died", rec.Trial.Version), time.Now())
				continue
			}
			rec.Trial.Runs++
			if err := rec.save(s.o.StateDir); err != nil {
				s.log.Error("recording the start of the agent release's trial", "err", err)
			}
		}
		started := time.Now()
		code, healthy, err := s.runChild(ctx, bin, rec.Trial)
		if ctx.Err() != nil {
			if onTrial && !healthy {
				s.resetTrial(rec.Trial.Digest)
			}
			return nil
		}
		switch {
		case err != nil && onTrial:
			s.rollBack(rec, fmt.Sprintf("release %s did not start: %v", rec.Trial.Version, err), started)
			continue
		case err != nil:
			return fmt.Errorf("starting the agent: %w", err)
		case onTrial && !healthy:
			msg := fmt.Sprintf("release %s exited with status %d before reporting healthy", rec.Trial.Version, code)
			if code == -1 {
				msg = fmt.Sprintf("release %s did not report healthy within %s", rec.Trial.Version, s.o.Deadline)
			}
			s.rollBack(rec, msg, started)
			continue
		case code == ExitUpdate:
			s.log.Info("agent handed over for an update")
			backoff = time.Second
			continue
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		s.log.Warn("agent exited, restarting", "status", code, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

// runChild runs the agent from bin until it exits (or ctx ends, or a
// trial passes its deadline unhealthy: status -1). A trial is promoted as
// soon as the agent reports healthy.
func (s *supervisor) runChild(ctx context.Context, bin string, tr *trial) (code int, healthy bool, err error) {
	hr, hw, err := os.Pipe()
	if err != nil {
		return 0, false, fmt.Errorf("creating health pipe: %w", err)
	}
	defer hr.Close()
	cmd := exec.Command(bin, s.o.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{hw}
	cmd.Env = append(os.Environ(), envBinary+"="+s.o.Binary, envHealth+"=3")
	if tr != nil {
		cmd.Env = append(cmd.Env, envTrial+"="+tr.Digest)
	}
	err = cmd.Start()
	hw.Close()
	if err != nil {
		return 0, false, err
	}
	s.log.Info("agent started", "binary", bin, "pid", cmd.Process.Pid, "trial", tr != nil)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	health := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(hr)
		for sc.Scan() {
			if sc.Text() == "healthy" {
				health <- struct{}{}
				return
			}
		}
	}()
	var deadline <-chan time.Time
	if tr != nil {
		timer := time.NewTimer(s.o.Deadline)
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		select {
		case err := <-exited:
			return exitCode(cmd, err), healthy, nil
		case <-health:
			if tr != nil && !healthy {
				if err := s.promote(*tr); err != nil {
					s.log.Error("promoting agent release failed; it stays on trial", "version", tr.Version, "err", err)
					continue
				}
				deadline = nil
			}
			healthy = true
		case <-deadline:
			s.log.Error("agent release did not report healthy in time, stopping it", "version", tr.Version, "deadline", s.o.Deadline)
			s.stop(cmd, exited)
			return -1, false, nil
		case <-ctx.Done():
			s.stop(cmd, exited)
			return 0, healthy, nil
		}
	}
}

// stop asks the agent to stop, then kills it after the grace period.
func (s *supervisor) stop(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(s.o.StopGrace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// promote makes the release on trial the binary: the binary is kept as
// BINARY.prev (a hard link, so BINARY always exists), the release renamed
// over it.
func (s *supervisor) promote(tr trial) error {
	bin := s.o.Binary
	dir := filepath.Dir(bin)
	if err := keepPrevious(bin); err != nil {
		return err
	}
	if err := os.Rename(bin+nextSuffix, bin); err != nil {
		return fmt.Errorf("replacing the binary: %w", err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return err
	}
	rec, err := loadUpdateRecord(s.o.StateDir)
	if err != nil {
		rec = updateRecord{}
	}
	rec.Trial = nil
	rec.Last = &wire.AgentUpdate{Version: tr.Version, State: wire.UpdateDone, Message: "updated from " + tr.From, Time: time.Now().UTC()}
	if err := rec.save(s.o.StateDir); err != nil {
		return err
	}
	s.log.Info("agent release promoted", "version", tr.Version, "from", tr.From, "after", time.Since(tr.Started).Round(time.Millisecond))
	return nil
}

// resetTrial forgets that the release on trial was started, when the
// supervisor is stopped in order during its trial (a restart, a drain):
// the next start tries it again from the beginning.
func (s *supervisor) resetTrial(digest string) {
	rec, err := loadUpdateRecord(s.o.StateDir)
	if err != nil || rec.Trial == nil || rec.Trial.Digest != digest {
		return
	}
	rec.Trial.Runs = 0
	if err := rec.save(s.o.StateDir); err != nil {
		s.log.Error("recording the interrupted agent release's trial", "err", err)
	}
}

// rollBack records the failure of the release on trial and removes it:
// the next start runs the binary, which reports the failure.
func (s *supervisor) rollBack(rec updateRecord, msg string, started time.Time) {
	tr := *rec.Trial
	rec.fail(msg, time.Now())
	if err := rec.save(s.o.StateDir); err != nil {
		s.log.Error("recording the failed agent release", "err", err)
	}
	if err := os.Remove(s.o.Binary + nextSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("removing the failed agent release", "err", err)
	}
	s.log.Error("agent release failed, rolled back", "version", tr.Version, "to", tr.From, "reason", msg,
		"trialFor", time.Since(started).Round(time.Millisecond), "sinceHandOver", time.Since(tr.Started).Round(time.Millisecond))
}

// ChildArgs are the supervisor's arguments less those only it acts on
// (--supervise, --install-dir and its value): the agent's arguments.
func ChildArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-"):
		case name == "supervise":
			continue
		case name == "install-dir":
			if !hasValue {
				i++ // its value is the next argument
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// supervision is what a supervised agent learns from its environment.
type supervision struct {
	// binary is the path the supervisor runs; releases go beside it.
	binary string
	// trial is the digest of the release this process runs on trial.
	trial string
	// health is where to say "healthy"; nil when none.
	health *os.File
}

// supervisedFromEnv reads the supervisor's environment; nil when the
// agent runs unsupervised (it then never updates itself).
func supervisedFromEnv() *supervision {
	bin := os.Getenv(envBinary)
	if bin == "" {
		return nil
	}
	s := &supervision{binary: bin, trial: os.Getenv(envTrial)}
	if fd, err := strconv.Atoi(os.Getenv(envHealth)); err == nil && fd > 2 {
		s.health = os.NewFile(uintptr(fd), "supervisor-health")
	}
	return s
}

// healthy tells the supervisor, once, that this agent works.
func (s *supervision) healthy() {
	if s == nil || s.health == nil {
		return
	}
	_, _ = s.health.WriteString("healthy\n")
	_ = s.health.Close()
	s.health = nil
}
