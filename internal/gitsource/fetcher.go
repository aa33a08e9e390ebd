package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Options configures a Fetcher.
type Options struct {
	Dir    string       // cache root, one directory per repository and branch; one Fetcher per Dir
	Logger *slog.Logger // may be nil

	// Limits of one checkout; zero takes the Default. A commit past one
	// is refused (ErrRefusedTree) and nothing of it is written.
	MaxFiles         int   // tree entries of every kind (hub flag --max-repo-files)
	MaxBytes         int64 // bytes of all files and symlink targets (--max-repo-bytes)
	MaxDepth         int   // directory nesting (--max-repo-depth)
	MaxSymlinkTarget int   // bytes of one symlink target
}

// Revision is one commit of a source, checked out.
type Revision struct {
	Commit string // full SHA-1 of the commit
	Dir    string // work tree of exactly that commit; not modified afterwards
}

// Fetcher fetches Git sources into revision directories. Sources that track
// the same repository and branch share one object cache and one checkout
// per commit: a fleet often has a source per group over one repository. It
// is safe for concurrent use; fetches of one repository and branch are
// serialised.
type Fetcher struct {
	dir    string
	log    *slog.Logger
	limits limits
	// transports is this fetcher's own scheme → transport table, so that
	// file:// is served in-process without touching go-git's global
	// client.Protocols.
	transports map[string]transport.Transport

	mu    sync.Mutex             // guards locks
	locks map[string]*sync.Mutex // per cache directory
}

// keepRevisions is how many revision directories stay per repository and
// branch: the current one and those before it, which a reader (a source
// that has not followed the branch yet) may still be using.
const keepRevisions = 3

// New returns a Fetcher that caches under opts.Dir, creating it if needed.
func New(opts Options) (*Fetcher, error) {
	if opts.Dir == "" {
		return nil, errors.New("creating git fetcher: Options.Dir is empty")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("creating git fetcher: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating git fetcher: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	httpT := githttp.NewClient(&http.Client{Transport: httpTransport()})
	return &Fetcher{
		dir:    dir,
		log:    log,
		limits: opts.limits(),
		transports: map[string]transport.Transport{
			"http":  httpT,
			"https": httpT,
			"ssh":   ssh.DefaultClient,
			"file":  server.NewServer(server.DefaultLoader),
		},
		locks: make(map[string]*sync.Mutex),
	}, nil
}

// httpTransport bounds the phases of a request that may hang on a dead
// link; the body may take as long as ctx allows.
func httpTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
}

// validName is what a source name may look like: it names a directory.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Fetch brings the branch's head into a checkout and returns it. Calling it
// again with no new commit does no network work beyond listing the remote's
// refs and returns the same Revision. An empty branch means main.
func (f *Fetcher) Fetch(ctx context.Context, name, url, branch string) (Revision, error) {
	if !validName.MatchString(name) {
		return Revision{}, fmt.Errorf("fetching source %q: invalid name (letters, digits, '.', '_', '-')", name)
	}
	if branch == "" {
		branch = "main"
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := ref.Validate(); err != nil {
		return Revision{}, fmt.Errorf("fetching source %s: invalid branch %q", name, branch)
	}
	ep, err := endpoint(url)
	if err != nil {
		return Revision{}, fmt.Errorf("fetching source %s: %w", name, err)
	}

	srcDir := f.cacheDir(url, ref)
	unlock := f.lock(srcDir)
	defer unlock()

	rev, err := f.fetchLocked(ctx, name, srcDir, ep, ref)
	if err != nil {
		return Revision{}, fmt.Errorf("fetching source %s from %s: %w", name, redactURL(url), sanitize(err, ep))
	}
	return rev, nil
}

// cacheDir is the directory of a repository's branch: a hash, so that any
// URL (credentials included) names a safe directory.
func (f *Fetcher) cacheDir(url string, ref plumbing.ReferenceName) string {
	sum := sha256.Sum256([]byte(url + "\x00" + ref.String()))
	return filepath.Join(f.dir, "repo-"+hex.EncodeToString(sum[:12]))
}

func (f *Fetcher) fetchLocked(ctx context.Context, name, srcDir string, ep *transport.Endpoint, ref plumbing.ReferenceName) (Revision, error) {
	repo, err := openCache(filepath.Join(srcDir, "cache.git"))
	if err != nil {
		return Revision{}, err
	}
	began := time.Now()
	head, fetched, err := f.download(ctx, repo, ep, ref)
	if err != nil {
		return Revision{}, err
	}
	rev, created, err := checkout(repo, head, srcDir, f.limits)
	if err != nil {
		return Revision{}, err
	}
	if err := prune(srcDir, rev.Dir, keepRevisions); err != nil {
		// Old revisions only cost disk; the fetch itself succeeded.
		f.log.Warn("pruning old revisions", "source", name, "err", err)
	}
	if fetched || created {
		f.log.Info("fetched source", "source", name, "branch", ref.Short(), "commit", rev.Commit,
			"downloaded", fetched, "took", time.Since(began))
	}
	return rev, nil
}

// lock serialises work on one cache directory and returns the unlock.
func (f *Fetcher) lock(dir string) func() {
	f.mu.Lock()
	l, ok := f.locks[dir]
	if !ok {
		l = new(sync.Mutex)
		f.locks[dir] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// openCache opens the bare object cache at dir, creating it if missing.
func openCache(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("opening cache: %w", err)
	}
	return repo, nil
}

// Cached returns the checkout of a commit already in the cache of the
// source's repository and branch, without touching the network: a hub that
// restarts while a Git server is unreachable keeps serving the commit it
// had.
func (f *Fetcher) Cached(name, url, branch, commit string) (Revision, error) {
	if !validName.MatchString(name) {
		return Revision{}, fmt.Errorf("opening cached source %q: invalid name", name)
	}
	if branch == "" {
		branch = "main"
	}
	srcDir := f.cacheDir(url, plumbing.NewBranchReferenceName(branch))
	unlock := f.lock(srcDir)
	defer unlock()
	repo, err := git.PlainOpen(filepath.Join(srcDir, "cache.git"))
	if err != nil {
		return Revision{}, fmt.Errorf("opening cached source %s: %w", name, err)
	}
	h := plumbing.NewHash(commit)
	if h.IsZero() || h.String() != commit {
		return Revision{}, fmt.Errorf("opening cached source %s: %q is not a commit hash", name, commit)
	}
	if _, err := repo.CommitObject(h); err != nil {
		return Revision{}, fmt.Errorf("opening cached source %s at %s: %w", name, commit, err)
	}
	rev, _, err := checkout(repo, h, srcDir, f.limits)
	if err != nil {
		return Revision{}, fmt.Errorf("checking out cached source %s at %s: %w", name, commit, err)
	}
	return rev, nil
}
