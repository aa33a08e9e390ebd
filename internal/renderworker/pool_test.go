package renderworker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
)

// liveness bounds the waits of these tests; nothing here should take
// more than a fraction of it.
const liveness = 60 * time.Second

// faultRepo holds a bundle per way a render can go wrong, and one that
// renders.
func faultRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"ok/fleet.yaml": "",
		"ok/cm.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
		// 10^10 iterations: hours.
		"forever/fleet.yaml":        "",
		"forever/Chart.yaml":        "apiVersion: v2\nname: forever\nversion: 0.1.0\n",
		"forever/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: forever\n{{- range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n",
		// A string doubled 40 times: a terabyte.
		"hungry/fleet.yaml":        "",
		"hungry/Chart.yaml":        "apiVersion: v2\nname: hungry\nversion: 0.1.0\n",
		"hungry/templates/cm.yaml": "{{- $s := \"0123456789abcdef\" }}{{- range until 40 }}{{ $s = printf \"%s%s\" $s $s }}{{ end }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hungry\ndata:\n  s: {{ $s }}\n",
	})
	return root
}

// renderPath renders the bundle at p of root with its own options.
func renderPath(ctx context.Context, r render.Renderer, root, p string) ([]string, error) {
	found, err := bundle.Discover(root, nil)
	if err != nil {
		return nil, err
	}
	for _, b := range found {
		if b.Path == p {
			objs, err := r.Render(ctx, root, b, render.Base(b))
			var names []string
			for _, o := range objs {
				names = append(names, o.GetKind()+" "+o.GetName())
			}
			return names, err
		}
	}
	return nil, fmt.Errorf("no bundle %s", p)
}

// idlePIDs lists the pids of the idle workers, taking them out of the
// pool and putting them back.
func idlePIDs(p *Pool) []int {
	var pids []int
	var ws []*worker
	for len(p.slots) > 0 {
		ws = append(ws, <-p.slots)
	}
	for _, w := range ws {
		if w != nil {
			pids = append(pids, w.pid)
		}
		p.slots <- w
	}
	return pids
}

// gone reports whether no process has pid any more.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// checkRenders checks that the pool still renders the bundle that works.
func checkRenders(t *testing.T, p *Pool, root string) {
	t.Helper()
	got, err := renderPath(context.Background(), p, root, "ok")
	if err != nil || len(got) != 1 || got[0] != "ConfigMap ok" {
		t.Fatalf("rendering ok: %v, %v", got, err)
	}
}

// TestPoolTimeout renders a chart that loops for hours with a short
// limit: the render is refused when the limit passes, its worker is
// killed, and a new worker renders the next bundle.
func TestPoolTimeout(t *testing.T) {
	root := faultRepo(t)
	p := newTestPool(t, Options{Workers: 1, Render: render.Options{Limits: render.Limits{Timeout: time.Second}}})
	before := idlePIDs(p)
	_, err := renderPath(context.Background(), p, root, "forever")
	want := "bundle took longer than 1s to render (limit: --render-timeout)"
	if err == nil || err.Error() != want {
		t.Fatalf("Render error = %v, want %s", err, want)
	}
	var le *render.LimitError
	if !errors.As(err, &le) || le.Flag != render.FlagRenderTimeout {
		t.Errorf("error %#v is not the timeout *render.LimitError", err)
	}
	if len(before) != 1 || !gone(before[0]) {
		t.Errorf("worker %v still runs after its render timed out", before)
	}
	checkRenders(t, p, root)
	if after := idlePIDs(p); len(after) != 1 || after[0] == before[0] {
		t.Errorf("workers %v after the timeout, %v before: not replaced", after, before)
	}
}

// TestPoolWorkerKilled kills a worker in the middle of a render: that
// render fails, a render on the other worker at the same time succeeds,
// and so does the next one.
func TestPoolWorkerKilled(t *testing.T) {
	root := faultRepo(t)
	p := newTestPool(t, Options{Workers: 2, Render: render.Options{Limits: render.Limits{Timeout: liveness}}})
	both := idlePIDs(p)
	failed := make(chan error, 1)
	go func() {
		_, err := renderPath(context.Background(), p, root, "forever")
		failed <- err
	}()
	deadline := time.Now().Add(liveness)
	for len(p.slots) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the render never took a worker")
		}
		time.Sleep(time.Millisecond) // polling the pool, not waiting for time
	}
	idle := idlePIDs(p)
	busy := both[0]
	if busy == idle[0] {
		busy = both[1]
	}
	checkRenders(t, p, root) // on the idle worker, while the other renders
	if err := syscall.Kill(busy, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-failed
	want := fmt.Sprintf("rendering bundle forever: render worker %d died: signal: killed", busy)
	if err == nil || err.Error() != want {
		t.Fatalf("Render error = %v, want %s", err, want)
	}
	checkRenders(t, p, root)
	checkRenders(t, p, root)
}

// TestPoolMemoryLimit renders a chart that builds a huge string: the
// worker dies at its memory ceiling, the render is refused naming the
// limit, and the next render succeeds.
func TestPoolMemoryLimit(t *testing.T) {
	root := faultRepo(t)
	p := newTestPool(t, Options{Workers: 1, MemoryLimit: 256 << 20, Render: render.Options{Limits: render.Limits{Timeout: liveness}}})
	before := idlePIDs(p)
	_, err := renderPath(context.Background(), p, root, "hungry")
	want := "bundle needs more than 256Mi of memory to render (limit: --render-worker-memory)"
	if err == nil || err.Error() != want {
		t.Fatalf("Render error = %v, want %s", err, want)
	}
	if !gone(before[0]) {
		t.Errorf("worker %d still runs", before[0])
	}
	checkRenders(t, p, root)
}

// TestPoolCanceled: a caller that gives up kills the render it waited
// for, and one that waits for a worker stops waiting.
func TestPoolCanceled(t *testing.T) {
	root := faultRepo(t)
	p := newTestPool(t, Options{Workers: 1, Render: render.Options{Limits: render.Limits{Timeout: liveness}}})
	before := idlePIDs(p)
	ctx, cancel := context.WithCancel(context.Background())
	failed := make(chan error, 1)
	go func() {
		_, err := renderPath(ctx, p, root, "forever")
		failed <- err
	}()
	deadline := time.Now().Add(liveness)
	for len(p.slots) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the render never took a worker")
		}
		time.Sleep(time.Millisecond) // polling the pool, not waiting for time
	}
	waiting, stop := context.WithCancel(context.Background())
	stop()
	if _, err := renderPath(waiting, p, root, "ok"); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting for a worker with a canceled context: %v", err)
	}
	cancel()
	if err := <-failed; !errors.Is(err, context.Canceled) {
		t.Errorf("Render error = %v, want context.Canceled", err)
	}
	if !gone(before[0]) {
		t.Errorf("worker %d still runs after its caller gave up", before[0])
	}
	checkRenders(t, p, root)
}

func TestPoolClose(t *testing.T) {
	root := faultRepo(t)
	p := newTestPool(t, Options{Workers: 2})
	pids := idlePIDs(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("worker %d still runs after Close", pid)
		}
	}
	if _, err := renderPath(context.Background(), p, root, "ok"); err == nil || !strings.Contains(err.Error(), "render pool closed") {
		t.Errorf("Render after Close: %v", err)
	}
}

func TestNewRefusesNonWorkers(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		err     string
	}{
		{name: "missing", command: []string{"/nonexistent/flotilla", "render-worker"}, err: "no such file"},
		{name: "echoes", command: []string{"cat"}, err: "did not answer as a render worker"},
		{name: "exits", command: []string{"true"}, err: "exited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), liveness)
			defer cancel()
			p, err := New(ctx, Options{Command: tt.command, Workers: 1})
			if err == nil {
				p.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New error = %v, want one with %q", err, tt.err)
			}
		})
	}
}
