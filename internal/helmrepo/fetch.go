package helmrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/Masterminds/semver/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"flotilla.io/flotilla/internal/egress"
)

// Default size limits. Parsing an index takes about 11 times its size in
// heap at its peak (measured: a 12 MB index, 140 MB), so 16 MiB keeps one
// parse under 200 MB on a 2 GB hub while fitting the largest public
// indexes; chart archives are a few hundred KiB to a few MiB, and Helm's
// loader bounds what one expands to (100 MiB).
const (
	DefaultMaxIndexBytes = 16 << 20
	DefaultMaxChartBytes = 16 << 20
)

// Limits bound what a repository may send; a zero field means its
// default. Plain data, like egress.Policy, so it crosses processes.
type Limits struct {
	// MaxIndexBytes bounds index.yaml (`flotilla hub --max-chart-index-bytes`).
	MaxIndexBytes int64 `json:",omitempty"`
	// MaxChartBytes bounds a chart archive (`flotilla hub --max-chart-bytes`).
	MaxChartBytes int64 `json:",omitempty"`
}

func (l Limits) withDefaults() Limits {
	if l.MaxIndexBytes <= 0 {
		l.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if l.MaxChartBytes <= 0 {
		l.MaxChartBytes = DefaultMaxChartBytes
	}
	return l
}

// Options configure a Fetch.
type Options struct {
	// CacheDir keeps chart archives by digest and the digest of every exact
	// version already resolved; empty disables the cache.
	CacheDir string
	// Egress says which hosts may be fetched from and how long a request
	// may take; the zero Policy allows public addresses only.
	Egress egress.Policy
	Limits Limits
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
// taken from the cache when its digest is known. Every request goes
// through one egress client: internal addresses are refused unless
// allowed, and every request is bounded in time and size.
func Fetch(ctx context.Context, c Chart, opts Options) ([]byte, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Limits = opts.Limits.withDefaults()
	base, err := repoURL(c.Repo)
	if err != nil {
		return nil, err
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
	client, err := egress.New(opts.Egress)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	cv, err := resolve(ctx, client, opts.Limits, base, c)
	if err != nil {
		return nil, err
	}
	if cv.Digest != "" && opts.CacheDir != "" {
		if data, err := readCached(opts.CacheDir, cv.Digest); err == nil {
			return data, nil
		}
	}
	data, err := download(ctx, client, opts.Limits, base, c, cv)
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

// repoURL checks a helm.repo value.
func repoURL(repo string) (*url.URL, error) {
	base, err := url.Parse(repo)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Hostname() == "" {
		return nil, fmt.Errorf("helm.repo %q: only http and https repositories are supported", redact(repo))
	}
	return base, nil
}

func isExact(v string) bool {
	if v == "" {
		return false
	}
	_, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	return err == nil
}

// resolve reads the repository index and picks the chart version.
func resolve(ctx context.Context, client *egress.Client, limits Limits, base *url.URL, c Chart) (*entry, error) {
	indexURL := base.JoinPath("index.yaml")
	data, err := client.Get(ctx, indexURL.String(), limits.MaxIndexBytes)
	if err != nil {
		return nil, fmt.Errorf("helm.repo %q: %w", redact(c.Repo),
			explain(err, "fetching index.yaml", "index.yaml", limits.MaxIndexBytes, "--max-chart-index-bytes"))
	}
	idx, err := parseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("helm.repo %q: parsing index.yaml: %w", redact(c.Repo), err)
	}
	cv, err := pick(idx, c.Name, c.Version)
	if err != nil {
		return nil, fmt.Errorf("helm.repo %q: %w", redact(c.Repo), err)
	}
	return cv, nil
}

func download(ctx context.Context, client *egress.Client, limits Limits, base *url.URL, c Chart, cv *entry) ([]byte, error) {
	what := fmt.Sprintf("chart %s-%s", c.Name, cv.Version)
	u, err := chartURL(base, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("%s in helm.repo %q: %w", what, redact(c.Repo), err)
	}
	data, err := client.Get(ctx, u.String(), limits.MaxChartBytes)
	if err != nil {
		return nil, fmt.Errorf("%s from %q: %w", what, egress.Redact(u),
			explain(err, "downloading", "the archive", limits.MaxChartBytes, "--max-chart-bytes"))
	}
	return data, nil
}

// chartURL resolves an index's chart URL as Helm does: relative to the
// repository (its path taken as a directory), or absolute; http and https
// only.
func chartURL(base *url.URL, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("the index gives an unparsable URL")
	}
	if !u.IsAbs() {
		b := *base
		if !strings.HasSuffix(b.Path, "/") {
			b.Path += "/"
			b.RawPath = ""
		}
		u = b.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("the index gives a %q URL: only http and https are supported", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("the index gives a URL without a host")
	}
	return u, nil
}

// explain words a failed request: refusals and time limits speak for
// themselves, a body over the limit names the limit and its flag, and
// anything else says which step failed.
func explain(err error, step, what string, limit int64, flag string) error {
	var refused *egress.RefusedError
	var timeout *egress.TimeoutError
	switch {
	case errors.Is(err, egress.ErrTooLarge):
		return fmt.Errorf("%s is larger than %s, the hub's limit (raise with %s)", what, resource.NewQuantity(limit, resource.BinarySI), flag)
	case errors.As(err, &refused), errors.As(err, &timeout):
		return err
	}
	return fmt.Errorf("%s: %w", step, err)
}

// redact drops credentials from a repository URL before it reaches an
// error or a log line.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return egress.Redact(u)
}
