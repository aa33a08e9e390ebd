package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"flotilla.io/flotilla/internal/wire"
)

// fakeReleases serves one download per call from a list of answers.
type fakeReleases struct {
	answers []fakeAnswer
	calls   int
}

type fakeAnswer struct {
	encoding string
	body     []byte
	err      error
}

func (f *fakeReleases) DownloadRelease(_ context.Context, _, _ string, w io.Writer, limit int64) (string, int64, error) {
	if f.calls >= len(f.answers) {
		return "", 0, errors.New("no more answers")
	}
	a := f.answers[f.calls]
	f.calls++
	if a.err != nil {
		return "", 0, a.err
	}
	if int64(len(a.body)) > limit {
		return "", 0, errors.New("over the limit")
	}
	n, err := w.Write(a.body)
	return a.encoding, int64(n), err
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUpdateRefusals checks that every refusal is a clear error reported
// to the hub and leaves the running agent and its binary as they were,
// and that a good release is written beside the binary for trial.
func TestUpdateRefusals(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	build := []byte("\x7fELF a new agent build")
	good := wire.AgentRelease{Version: "v2", Arch: runtime.GOARCH, Digest: wire.Hash(build), Size: int64(len(build))}
	otherArch := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	sign := func(k ed25519.PrivateKey, r wire.AgentRelease) *wire.SignedRelease {
		sr, err := wire.SignRelease(k, r)
		if err != nil {
			t.Fatal(err)
		}
		return &sr
	}
	wrongArch := good
	wrongArch.Arch = otherArch
	tests := []struct {
		name         string
		release      *wire.SignedRelease
		unsupervised bool
		unwritable   bool // the binary's directory cannot take the release
		failedBefore bool
		answers      []fakeAnswer
		wantReady    bool
		wantState    string // the AgentUpdate reported, "" for none
		wantMessage  string
		wantCalls    int
	}{
		{name: "good release, whole", release: sign(key, good), answers: []fakeAnswer{{encoding: wire.ReleaseGzip, body: gz(t, build)}}, wantReady: true, wantCalls: 1},
		{name: "corrupt delta, then whole", release: sign(key, good), answers: []fakeAnswer{{encoding: wire.ReleaseDelta, body: []byte("not a delta at all, not even its header")}, {encoding: wire.ReleaseGzip, body: gz(t, build)}}, wantReady: true, wantCalls: 2},
		{name: "bad signature", release: sign(otherKey, good), wantState: wire.UpdateRefused, wantMessage: "signature does not verify"},
		{name: "wrong arch", release: sign(key, wrongArch), wantState: wire.UpdateRefused, wantMessage: "is built for " + otherArch},
		{name: "digest mismatch", release: sign(key, good), answers: []fakeAnswer{{encoding: wire.ReleaseGzip, body: gz(t, []byte("\x7fELF a tampered agent build"))}}, wantState: wire.UpdateRefused, wantMessage: "does not match its signed digest", wantCalls: 1},
		{name: "not gzip", release: sign(key, good), answers: []fakeAnswer{{encoding: wire.ReleaseGzip, body: build}}, wantState: wire.UpdateRefused, wantMessage: "decompressing", wantCalls: 1},
		{name: "unsupervised", release: sign(key, good), unsupervised: true, wantState: wire.UpdateRefused, wantMessage: "unsupervised"},
		{name: "failed here before", release: sign(key, good), failedBefore: true},
		{name: "binary directory not writable", release: sign(key, good), unwritable: true, answers: []fakeAnswer{{encoding: wire.ReleaseGzip, body: gz(t, build)}},
			wantState: wire.UpdateRefused, wantMessage: "cannot be written beside the agent binary"},
		{name: "link down", release: sign(key, good), answers: []fakeAnswer{{err: errors.New("connection refused")}}, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin", "flotilla-agent")
			if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
				t.Fatal(err)
			}
			installed := []byte("the running build")
			if err := os.WriteFile(bin, installed, 0o755); err != nil {
				t.Fatal(err)
			}
			clock := newFakeClock()
			a, err := New(Options{StateDir: dir, Applier: &fakeApplier{}, Version: "v1", Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.unwritable:
				a.sup = &supervision{binary: filepath.Join(dir, "gone", "flotilla-agent")}
			case !tc.unsupervised:
				a.sup = &supervision{binary: bin}
			}
			if tc.failedBefore {
				if err := (updateRecord{Failed: []string{good.Digest}}).save(dir); err != nil {
					t.Fatal(err)
				}
			}
			a.current = &desired{manifest: wire.Manifest{Agent: tc.release}}
			src := &fakeReleases{answers: tc.answers}
			err = a.updateOnce(t.Context(), &identity{pub: pub}, src)

			if got := errors.Is(err, ErrUpdateReady); got != tc.wantReady {
				t.Fatalf("updateOnce = %v, want ready %t", err, tc.wantReady)
			}
			if src.calls != tc.wantCalls {
				t.Errorf("%d downloads, want %d", src.calls, tc.wantCalls)
			}
			if b, _ := os.ReadFile(bin); !bytes.Equal(b, installed) {
				t.Errorf("the installed binary changed")
			}
			next, nextErr := os.ReadFile(bin + nextSuffix)
			rec, err := loadUpdateRecord(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantReady {
				if !bytes.Equal(next, build) {
					t.Errorf("%s holds %q (%v), want the release", nextSuffix, next, nextErr)
				}
				if fi, err := os.Stat(bin + nextSuffix); err != nil || fi.Mode().Perm()&0o100 == 0 {
					t.Errorf("the release is not executable (%v)", err)
				}
				if rec.Trial == nil || rec.Trial.Digest != good.Digest || rec.Trial.From != "v1" {
					t.Errorf("trial %+v, want v2 from v1", rec.Trial)
				}
			} else {
				if !os.IsNotExist(nextErr) {
					t.Errorf("a release was written beside the binary")
				}
				if rec.Trial != nil {
					t.Errorf("a trial was recorded: %+v", rec.Trial)
				}
			}
			leftovers, _ := filepath.Glob(filepath.Join(dir, downloadFile+"*"))
			if more, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), ".*")); len(leftovers)+len(more) > 0 {
				t.Errorf("temporary files left: %v %v", leftovers, more)
			}
			a.outbox.mu.Lock()
			u := a.outbox.update
			a.outbox.mu.Unlock()
			switch {
			case tc.wantState == "" && u != nil:
				t.Errorf("reported %+v, want nothing", u)
			case tc.wantState != "" && (u == nil || u.State != tc.wantState || !strings.Contains(u.Message, tc.wantMessage)):
				t.Errorf("reported %+v, want %s with %q", u, tc.wantState, tc.wantMessage)
			}
			if tc.wantState != "" {
				// Refused once: once the hub has the refusal, the next
				// resync neither downloads the release again nor queues
				// the refusal again.
				if err := a.outbox.put(wire.StatusReport{}, clock.Now()); err != nil {
					t.Fatal(err)
				}
				r, ok := a.outbox.take()
				if !ok || r.AgentUpdate == nil {
					t.Fatalf("the refusal is not sent (%+v)", r)
				}
				if err := a.outbox.delivered(r); err != nil {
					t.Fatal(err)
				}
				calls := src.calls
				clock.Advance(time.Minute)
				_ = a.updateOnce(t.Context(), &identity{pub: pub}, src)
				if src.calls != calls {
					t.Errorf("a refused release was downloaded again")
				}
				if r, ok := a.outbox.take(); ok {
					t.Errorf("the refusal was queued again after its delivery: %+v", r.AgentUpdate)
				}
			}
		})
	}
}

// FuzzUpdateRecord feeds agent-update.json arbitrary bytes: it parses or
// is refused with an error, and what parses saves and loads the same.
func FuzzUpdateRecord(f *testing.F) {
	f.Add([]byte(`{"trial":{"version":"v2","digest":"` + strings.Repeat("a", 64) + `","from":"v1","started":"2026-12-01T00:00:00Z"}}`))
	f.Add([]byte(`{"last":{"version":"v2","state":"Failed","message":"exited","time":"2026-12-01T00:00:00Z"},"failed":["x"]}`))
	f.Add([]byte(`{"trial":{"version":"","digest":"zz"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseUpdateRecord(data)
		if err != nil {
			return
		}
		if len(r.Failed) > maxFailed {
			t.Fatalf("%d failed releases kept", len(r.Failed))
		}
		dir := t.TempDir()
		if err := r.save(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := loadUpdateRecord(dir); err != nil {
			t.Fatalf("a saved record does not load: %v", err)
		}
	})
}
