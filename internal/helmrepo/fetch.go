package helmrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// maxIndexBytes and maxChartBytes bound what a repository may send.
const (
	maxIndexBytes = 64 << 20
	maxChartBytes = 32 << 20
)

// Options configure a Fetch.
type Options struct {
	// CacheDir keeps chart archives by digest and the digest of every exact
	// version already resolved; empty disables the cache.
	CacheDir string
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	Logger *slog.Logger
}

// Chart names a chart in a repository. Version is an exact version or a
// semver constraint; empty means the latest stable version.
type Chart struct {
	Repo    string
	Name    string
	Version string
}

// Fetch returns the archive of a chart. An exact version already in the
// cache is served from it without any request; a constraint is resolved
// against the repository's index each time, and the archive is then
// taken from the cache when its digest is known.
func Fetch(ctx context.Context, c Chart, opts Options) ([]byte, error) {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(c.Repo)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("helm.repo %q: only http and https repositories are supported", redact(c.Repo))
	}
	exact := isExact(c.Version)
	ref := refPath(opts.CacheDir, c)
	if exact && opts.CacheDir != "" {
		if digest, err := os.ReadFile(ref); err == nil {
			if data, err := readCached(opts.CacheDir, string(digest)); err == nil {
				return data, nil
			}
		}
	}
	cv, err := resolve(ctx, opts, base, c)
	if err != nil {
		return nil, err
	}
	if cv.Digest != "" && opts.CacheDir != "" {
		if data, err := readCached(opts.CacheDir, cv.Digest); err == nil {
			return data, nil
		}
	}
	data, err := download(ctx, opts, base, cv)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if cv.Digest != "" && !strings.EqualFold(cv.Digest, digest) {
		return nil, fmt.Errorf("chart %s-%s: archive digest %s does not match the index's %s", c.Name, cv.Version, digest, cv.Digest)
	}
	if opts.CacheDir != "" {
		if err := store(opts.CacheDir, digest, data, ref, exact); err != nil {
			opts.Logger.Warn("chart cache not written", "chart", c.Name, "version", cv.Version, "err", err)
		}
	}
	opts.Logger.Info("chart downloaded", "chart", c.Name, "version", cv.Version, "digest", digest, "bytes", len(data))
	return data, nil
}

func isExact(v string) bool {
	if v == "" {
		return false
	}
	_, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	return err == nil
}

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

// resolve reads the repository index and picks the chart version.
func resolve(ctx context.Context, opts Options, base *url.URL, c Chart) (*repo.ChartVersion, error) {
	indexURL := base.JoinPath("index.yaml")
	data, err := get(ctx, opts.Client, indexURL.String(), maxIndexBytes)
	if err != nil {
		return nil, fmt.Errorf("fetching index of %s: %w", redact(c.Repo), err)
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("parsing index of %s: %w", redact(c.Repo), err)
	}
	idx.SortEntries()
	cv, err := idx.Get(c.Name, c.Version)
	if err != nil {
		return nil, fmt.Errorf("chart %s version %q in %s: %w", c.Name, c.Version, redact(c.Repo), err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart %s-%s in %s has no URL", c.Name, cv.Version, redact(c.Repo))
	}
	return cv, nil
}

func download(ctx context.Context, opts Options, base *url.URL, cv *repo.ChartVersion) ([]byte, error) {
	u, err := url.Parse(cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("chart %s-%s: bad URL: %w", cv.Name, cv.Version, err)
	}
	// Relative URLs are relative to the repository, as Helm resolves them.
	if !u.IsAbs() {
		b := *base
		if !strings.HasSuffix(b.Path, "/") {
			b.Path += "/"
		}
		u = b.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("chart %s-%s: only http and https URLs are supported", cv.Name, cv.Version)
	}
	data, err := get(ctx, opts.Client, u.String(), maxChartBytes)
	if err != nil {
		return nil, fmt.Errorf("downloading chart %s-%s: %w", cv.Name, cv.Version, err)
	}
	return data, nil
}

func get(ctx context.Context, client *http.Client, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, errors.New(redactErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return data, nil
}

// redact drops user information from a repository URL before it reaches
// an error or a log line.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redact(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}
