package helmrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// refPath is where the digest of an exact chart version is remembered.
func refPath(dir string, c Chart) string {
	sum := sha256.Sum256([]byte(c.Repo + "\x00" + c.Name + "\x00" + c.Version))
	return filepath.Join(dir, "refs", hex.EncodeToString(sum[:]))
}

func archivePath(dir, digest string) (string, error) {
	digest = strings.ToLower(digest)
	if len(digest) != sha256.Size*2 {
		return "", errors.New("not a sha256 digest")
	}
	if _, err := hex.DecodeString(digest); err != nil {
		return "", errors.New("not a sha256 digest")
	}
	return filepath.Join(dir, "sha256-"+digest+".tgz"), nil
}

// readCached returns a cached archive after checking its digest, so a
// damaged cache file is fetched again rather than used.
func readCached(dir, digest string) ([]byte, error) {
	p, err := archivePath(dir, digest)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), digest) {
		return nil, errors.New("cached archive does not match its digest")
	}
	return data, nil
}

func store(dir, digest string, data []byte, ref string, exact bool) error {
	p, err := archivePath(dir, digest)
	if err != nil {
		return err
	}
	if err := writeAtomic(p, data); err != nil {
		return err
	}
	if exact {
		return writeAtomic(ref, []byte(digest))
	}
	return nil
}

func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing cache: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing cache: %w", err)
	}
	return os.Rename(f.Name(), p)
}
