package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"flotilla.io/flotilla/internal/atomicfile"
)

// originSuffix names the file beside an installed binary that holds the
// SHA-256 of the shipped binary (the container image's) it was copied
// from: a promoted release keeps it, so a restart can tell an update
// (keep it) from a new image (install it).
const originSuffix = ".origin"

// installShipped makes sure dir holds the agent binary the supervisor
// runs, and returns its path (dir/<name of shipped>). The shipped binary
// (the image's, read-only) is copied there when dir has none, or when it
// is not the build dir's binary descends from: a new image, so that an
// operator's `kubectl set image` wins over a release the hub sent (a
// release on trial is then dropped, and the replaced binary kept as
// BINARY.prev). Otherwise dir's binary, maybe a promoted release, stays.
func installShipped(shipped, dir, stateDir string, log *slog.Logger) (string, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("install dir %s does not exist: create it, or mount it (in a pod, a hostPath)", dir)
	case err != nil:
		return "", fmt.Errorf("reading install dir: %w", err)
	case !fi.IsDir():
		return "", fmt.Errorf("install dir %s is not a directory", dir)
	}
	// Releases are written here later; say now, not at the first update,
	// when they cannot be.
	if err := probeWritable(dir); err != nil {
		return "", fmt.Errorf("install dir %s is not writable (the agent's updates are written there): %w", dir, err)
	}

	bin := filepath.Join(dir, filepath.Base(shipped))
	if sameFile(shipped, bin) {
		return bin, nil // started from the install dir itself
	}
	want, err := fileDigest(shipped)
	if err != nil {
		return "", fmt.Errorf("reading the shipped agent binary: %w", err)
	}
	origin, err := os.ReadFile(bin + originSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", filepath.Base(bin+originSuffix), err)
	}
	_, statErr := os.Stat(bin)
	present := statErr == nil
	newOrigin := strings.TrimSpace(string(origin)) != want
	if present && !newOrigin {
		return bin, nil
	}
	if present && newOrigin {
		// The copy was made but its origin not recorded (a crash between).
		if have, err := fileDigest(bin); err == nil && have == want {
			return bin, writeOrigin(bin, want)
		}
	}
	if newOrigin {
		if present {
			if err := keepPrevious(bin); err != nil {
				return "", err
			}
		}
		dropTrial(bin, stateDir, log)
	}
	// What was copied is recorded, not what was hashed before: a shipped
	// binary replaced in between is then copied again at the next start.
	got, err := copyBinary(shipped, bin)
	if err != nil {
		return "", err
	}
	if err := writeOrigin(bin, got); err != nil {
		return "", err
	}
	log.Info("agent binary installed from the shipped one", "from", shipped, "to", bin, "digest", got[:12], "replaced", present)
	return bin, nil
}

// probeWritable checks that files can be created in dir, as releases
// are, by creating one and removing it.
func probeWritable(dir string) error {
	probe, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func writeOrigin(bin, digest string) error {
	if err := atomicfile.Write(bin+originSuffix, []byte(digest+"\n"), 0o644); err != nil {
		return fmt.Errorf("recording where the agent binary came from: %w", err)
	}
	return nil
}

// keepPrevious links bin to BINARY.prev before it is replaced.
func keepPrevious(bin string) error {
	if err := os.Remove(bin + prevSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the previous binary: %w", err)
	}
	if err := os.Link(bin, bin+prevSuffix); err != nil {
		return fmt.Errorf("keeping the binary as %s: %w", filepath.Base(bin+prevSuffix), err)
	}
	return nil
}

// dropTrial forgets a release recorded for trial: the shipped binary
// replaces what it would have replaced. It is not recorded as failed, so
// the agent fetches it again if the hub still names it.
func dropTrial(bin, stateDir string, log *slog.Logger) {
	rec, err := loadUpdateRecord(stateDir)
	if err != nil || rec.Trial == nil {
		return
	}
	log.Warn("agent release on trial dropped: a new shipped binary replaces it", "version", rec.Trial.Version)
	rec.Trial = nil
	if err := rec.save(stateDir); err != nil {
		log.Error("dropping the agent release on trial", "err", err)
	}
	if err := os.Remove(bin + nextSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("removing the dropped agent release", "err", err)
	}
}

// copyBinary copies src over dst atomically (see atomicfile) and returns
// the SHA-256 of what it wrote.
func copyBinary(src, dst string) (digest string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("opening the shipped agent binary: %w", err)
	}
	defer in.Close()
	h := sha256.New()
	err = atomicfile.WriteFrom(dst, 0o755, func(out io.Writer) error {
		_, err := io.Copy(io.MultiWriter(out, h), in)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("copying the agent binary into the install dir: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sameFile reports whether a and b name one file.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
