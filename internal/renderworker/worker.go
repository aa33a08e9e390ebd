package renderworker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stderrTail is how much of a worker's last output is kept, to tell why
// it died.
const stderrTail = 4 << 10

// worker is one render-worker process. It renders one request at a time:
// the pool hands it to one caller.
type worker struct {
	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailWriter
	// done is closed once the process is reaped; waitErr is then set.
	done    chan struct{}
	waitErr error
}

// startWorker starts a worker and completes the hello handshake before
// ctx ends.
func startWorker(ctx context.Context, command, env []string, hello []byte, log *slog.Logger) (*worker, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = workerAttr()
	cmd.WaitDelay = time.Second
	w := &worker{cmd: cmd, done: make(chan struct{})}
	w.stderr = &tailWriter{log: log}
	cmd.Stderr = w.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting render worker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting render worker: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting render worker: %w", err)
	}
	w.pid, w.stdin, w.stdout = cmd.Process.Pid, stdin, bufio.NewReaderSize(stdout, 64<<10)
	w.stderr.pid = w.pid
	go func() {
		w.waitErr = cmd.Wait()
		close(w.done)
	}()
	data, err := w.call(ctx, hello, 1<<20)
	if err == nil {
		var r ready
		switch {
		case json.Unmarshal(data, &r) != nil:
			err = errors.New("its answer to hello is not JSON")
		case !r.Ready:
			err = errors.New("it did not answer as a render worker")
		case r.Err != "":
			err = errors.New(r.Err)
		case r.Version != protocolVersion:
			err = fmt.Errorf("it speaks protocol %d, not %d", r.Version, protocolVersion)
		}
	}
	if err != nil {
		w.kill()
		return nil, fmt.Errorf("starting render worker %v: %w%s", command, err, w.stderr.summary())
	}
	return w, nil
}

type answer struct {
	data []byte
	err  error
}

// call sends one frame and reads the answer, up to max bytes. It returns
// when the answer comes, the worker dies or ctx ends; the worker is
// killed in the last two cases, and must be after any error.
func (w *worker) call(ctx context.Context, frame []byte, max int) ([]byte, error) {
	ch := make(chan answer, 1)
	go func() {
		var a answer
		if a.err = writeFrame(w.stdin, frame); a.err == nil {
			a.data, a.err = readFrame(w.stdout, max)
		}
		ch <- a
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, w.broken(a.err)
		}
		return a.data, nil
	case <-ctx.Done():
		w.kill()
		return nil, ctx.Err()
	}
}

// broken kills a worker whose pipe failed and says what happened: a
// pipe that ended is a worker that died (its output closes when it
// exits), anything else a worker that broke the protocol.
func (w *worker) broken(err error) error {
	w.kill()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) {
		return &diedError{pid: w.pid, err: w.waitErr, outOfMemory: w.stderr.outOfMemory()}
	}
	return fmt.Errorf("render worker %d: %w", w.pid, err)
}

// kill ends the worker at once and waits until it is reaped.
func (w *worker) kill() {
	_ = w.cmd.Process.Kill()
	<-w.done
}

// exited reports whether the process has ended.
func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// diedError is a worker that died during a render.
type diedError struct {
	pid         int
	err         error
	outOfMemory bool
}

func (e *diedError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("render worker %d exited", e.pid)
	}
	return fmt.Sprintf("render worker %d died: %v", e.pid, e.err)
}

func (e *diedError) Unwrap() error { return e.err }

// tailWriter is a worker's stderr: lines are logged at debug level and
// the last stderrTail bytes kept.
type tailWriter struct {
	log *slog.Logger
	pid int

	mu   sync.Mutex // guards the following
	tail []byte
	line []byte // an unfinished line
	oom  bool   // the runtime said it ran out of memory
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tail = append(t.tail, p...)
	if over := len(t.tail) - stderrTail; over > 0 {
		t.tail = append(t.tail[:0], t.tail[over:]...)
	}
	t.line = append(t.line, p...)
	for {
		i := bytes.IndexByte(t.line, '\n')
		if i < 0 {
			break
		}
		line := t.line[:i]
		if outOfMemory(line) {
			t.oom = true
		}
		t.log.Debug("render worker output", "pid", t.pid, "line", string(truncate(line, 1024)))
		t.line = t.line[i+1:]
	}
	if len(t.line) > stderrTail {
		t.line = t.line[:0]
	}
	return len(p), nil
}

// outOfMemory reports whether the Go runtime said it ran out of memory,
// as it does when the worker reaches its address-space limit.
func (t *tailWriter) outOfMemory() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.oom
}

// summary is the first line of the last output, for a start that failed.
func (t *tailWriter) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.tail)
	if len(s) == 0 {
		return ""
	}
	line, _, _ := bytes.Cut(s, []byte("\n"))
	return " (its output: " + string(truncate(line, 200)) + ")"
}

// outOfMemory reports whether a line is the Go runtime's own words when
// it cannot map memory, which it writes before the stacks of every
// goroutine (the last is what a -race build says instead).
func outOfMemory(line []byte) bool {
	for _, p := range []string{"fatal error: out of memory", "runtime: out of memory", "fatal error: too many address space collisions"} {
		if bytes.HasPrefix(line, []byte(p)) {
			return true
		}
	}
	return false
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
