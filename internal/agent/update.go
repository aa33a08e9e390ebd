package agent

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"flotilla.io/flotilla/internal/atomicfile"
	"flotilla.io/flotilla/internal/bindelta"
	"flotilla.io/flotilla/internal/wire"
)

// releaseSource downloads agent releases; hubclient.Agent is the real one.
type releaseSource interface {
	DownloadRelease(ctx context.Context, digest, from string, w io.Writer, limit int64) (encoding string, n int64, err error)
}

// downloadFile, in the state directory, holds a release as downloaded
// (a delta or gzip) while it is rebuilt beside the binary.
const downloadFile = ".release-download"

// downloadTimeout bounds downloading one release: megabytes over a thin
// link, and the hub may first make the delta.
const downloadTimeout = 15 * time.Minute

// errRefused marks an update the agent will not try again: the release
// did not verify. Other failures (the link) are tried again at resync.
type errRefused struct{ err error }

func (e errRefused) Error() string { return e.err.Error() }
func (e errRefused) Unwrap() error { return e.err }

// ErrReleaseDigest is a release whose bytes do not hash to its digest.
var ErrReleaseDigest = errors.New("agent release does not match its signed digest")

// updateLoop keeps the agent on the release its manifest names: at each
// new manifest and every resync it checks, and when a release is to be
// installed it writes it beside the binary, records it for trial and
// returns ErrUpdateReady for the supervisor to start it.
func (a *Agent) updateLoop(ctx context.Context, id *identity, src releaseSource) error {
	for {
		if err := a.updateOnce(ctx, id, src); errors.Is(err, ErrUpdateReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.updateKick:
		case <-a.clock.After(a.opts.Resync):
		}
	}
}

// updateOnce installs the release the manifest names if it must. Every
// refusal leaves the running agent and its binary as they are.
func (a *Agent) updateOnce(ctx context.Context, id *identity, src releaseSource) error {
	a.checkPromoted()
	cur, _ := a.snapshot()
	if cur == nil || cur.manifest.Agent == nil {
		return nil
	}
	sr := *cur.manifest.Agent
	if a.refused[string(sr.Signature)] {
		return nil
	}
	rel, err := wire.VerifyRelease(id.pub, sr, runtime.GOARCH)
	if err != nil {
		version := "unknown"
		if r, derr := wire.DecodeRelease(sr); derr == nil {
			version = r.Version
		}
		a.refuseUpdate(sr, version, err)
		return nil
	}
	self, err := a.selfDigest()
	if err != nil {
		a.log.Warn("reading the agent's own binary", "err", err)
		return nil
	}
	if rel.Digest == self {
		return nil
	}
	if a.sup == nil {
		a.refuseUpdate(sr, rel.Version, errors.New("this agent runs unsupervised (without --supervise), so it never replaces itself"))
		return nil
	}
	rec, err := loadUpdateRecord(a.opts.StateDir)
	if err != nil {
		a.log.Error("agent update record refused", "err", err)
		rec = updateRecord{}
	}
	if a.sup.trial != "" {
		return nil // on trial: the supervisor judges this build first
	}
	if rec.Trial != nil || rec.failed(rel.Digest) {
		return nil // being judged, or failed here and reported
	}
	a.log.Info("agent release wanted", "version", rel.Version, "running", a.opts.Version)
	start := a.clock.Now()
	encoding, n, err := a.install(ctx, src, rel, self)
	if err != nil {
		var refused errRefused
		if errors.As(err, &refused) {
			a.refuseUpdate(sr, rel.Version, err)
		} else {
			a.log.Warn("downloading agent release failed, will retry", "version", rel.Version, "err", err)
		}
		return nil
	}
	rec.Trial = &trial{Version: rel.Version, Digest: rel.Digest, From: a.opts.Version, Started: a.clock.Now().UTC()}
	if err := rec.save(a.opts.StateDir); err != nil {
		a.log.Error("recording agent release for trial", "err", err)
		return nil
	}
	a.log.Info("agent release ready, handing over", "version", rel.Version, "encoding", encoding, "downloaded", n, "took", a.clock.Now().Sub(start).Round(time.Millisecond))
	return ErrUpdateReady
}

// checkPromoted notices, in a release on trial, that the supervisor
// promoted it: the outcome is reported, and this build may be replaced in
// turn.
func (a *Agent) checkPromoted() {
	if a.sup == nil || a.sup.trial == "" {
		return
	}
	rec, err := loadUpdateRecord(a.opts.StateDir)
	if err != nil || (rec.Trial != nil && rec.Trial.Digest == a.sup.trial) {
		return
	}
	a.sup.trial = ""
	if rec.Last != nil {
		a.outbox.setUpdate(rec.Last)
	}
}

// refuseUpdate reports a release the agent will not run and remembers it
// for this process by its signature, so that it is neither checked nor
// downloaded nor reported again at every resync. A signature names one
// release, whether it verifies or not: another release (even under the
// same version, say rebuilt for this architecture) is looked at afresh.
func (a *Agent) refuseUpdate(sr wire.SignedRelease, version string, err error) {
	a.refused[string(sr.Signature)] = true
	a.log.Error("agent release refused", "version", version, "err", err)
	a.outbox.setUpdate(&wire.AgentUpdate{Version: version, State: wire.UpdateRefused, Message: err.Error(), Time: a.clock.Now().UTC()})
}

// selfDigest is the SHA-256 of the binary this process runs.
func (a *Agent) selfDigest() (string, error) {
	if a.self != "" {
		return a.self, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	d, err := fileDigest(exe)
	if err != nil {
		return "", err
	}
	a.self = d
	return d, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// install downloads rel (as a delta from self when the hub has it),
// rebuilds it, checks its size and digest, and writes it atomically as
// BINARY.next. A delta that does not rebuild the release is fetched
// whole once.
func (a *Agent) install(ctx context.Context, src releaseSource, rel wire.AgentRelease, self string) (encoding string, n int64, err error) {
	encoding, n, err = a.installFrom(ctx, src, rel, self)
	var refused errRefused
	if errors.As(err, &refused) && encoding == wire.ReleaseDelta {
		a.log.Warn("agent release delta refused, fetching it whole", "version", rel.Version, "err", err)
		return a.installFrom(ctx, src, rel, "")
	}
	return encoding, n, err
}

// installFrom writes rel as BINARY.next, downloaded from from ("" for the
// whole release). The file is created before anything is downloaded: a
// directory that cannot take it is a refusal, where a failed write after
// the download would cost the whole download again at every resync.
func (a *Agent) installFrom(ctx context.Context, src releaseSource, rel wire.AgentRelease, from string) (encoding string, n int64, err error) {
	created := false
	err = atomicfile.WriteFrom(a.sup.binary+nextSuffix, 0o755, func(out io.Writer) error {
		created = true
		// One name, truncated: a download cut by a crash is overwritten
		// by the next one, and removed by the supervisor's next start.
		dl, err := os.OpenFile(filepath.Join(a.opts.StateDir, downloadFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("creating download file: %w", err)
		}
		defer func() {
			dl.Close()
			os.Remove(dl.Name())
		}()
		dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
		encoding, n, err = src.DownloadRelease(dctx, rel.Digest, from, dl, rel.Size+1<<20)
		cancel()
		if err != nil {
			encoding = ""
			return err
		}
		return rebuild(out, dl, n, encoding, rel)
	})
	if err != nil && !created {
		return "", 0, errRefused{fmt.Errorf("the release cannot be written beside the agent binary (give the supervisor a writable --install-dir): %w", err)}
	}
	return encoding, n, err
}

// rebuild writes the release from what was downloaded (n bytes of dl) and
// checks that it is exactly the release signed.
func rebuild(out io.Writer, dl *os.File, n int64, encoding string, rel wire.AgentRelease) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(out, h), 64<<10)
	var written int64
	switch encoding {
	case wire.ReleaseDelta:
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		old, err := os.Open(exe)
		if err != nil {
			return fmt.Errorf("opening the running binary: %w", err)
		}
		defer old.Close()
		fi, err := old.Stat()
		if err != nil {
			return err
		}
		written, err = bindelta.Apply(bw, old, fi.Size(), dl, n, rel.Size)
		if err != nil {
			if errors.Is(err, bindelta.ErrCorrupt) {
				return errRefused{fmt.Errorf("applying the delta to %s: %w", rel.Version, err)}
			}
			return err
		}
	case wire.ReleaseGzip:
		zr, err := gzip.NewReader(io.NewSectionReader(dl, 0, n))
		if err != nil {
			return errRefused{fmt.Errorf("decompressing %s: %w", rel.Version, err)}
		}
		written, err = io.Copy(bw, io.LimitReader(zr, rel.Size+1))
		if err != nil {
			return errRefused{fmt.Errorf("decompressing %s: %w", rel.Version, err)}
		}
	default:
		return errRefused{fmt.Errorf("unknown release encoding %q", encoding)}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the release: %w", err)
	}
	if written != rel.Size {
		return errRefused{fmt.Errorf("%w: %s has %d bytes, signed for %d", ErrReleaseDigest, rel.Version, written, rel.Size)}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rel.Digest {
		return errRefused{fmt.Errorf("%w: %s hashes to %.12s, signed as %.12s", ErrReleaseDigest, rel.Version, got, rel.Digest)}
	}
	return nil
}
