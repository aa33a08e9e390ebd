// Package store defines what the hub keeps: clusters, enrollment tokens, Git
// sources, bundles, rendered objects, signed manifests and status. Backends
// (SQLite, PostgreSQL) live in sqlstore and pass the contract suite in
// storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends translate driver errors into these at the SQL
// edge so that the hub never sees a driver type.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrConflict  = errors.New("conflicting update")
	ErrExpired   = errors.New("token expired")
	ErrExhausted = errors.New("token has no uses left")
)

// Store is the hub's persistence. Every method is safe for concurrent use.
type Store interface {
	// CreateCluster inserts c; ErrExists when its ID or name is taken.
	CreateCluster(ctx context.Context, c Cluster) error
	// GetCluster returns one cluster; ErrNotFound when absent.
	GetCluster(ctx context.Context, id string) (Cluster, error)
	// ListClusters returns every cluster, sorted by name.
	ListClusters(ctx context.Context) ([]Cluster, error)
	// TouchClusters records when clusters' agents were seen, in one
	// transaction (hubs batch them); an earlier time keeps the latest, and
	// clusters that no longer exist are skipped.
	TouchClusters(ctx context.Context, seen map[string]time.Time) error
	// SetClusterFacts replaces the facts the cluster's agent reported;
	// ErrNotFound when the cluster is absent.
	SetClusterFacts(ctx context.Context, id string, facts []byte) error

	// PutGroup inserts or replaces a cluster group.
	PutGroup(ctx context.Context, g Group) error
	// ListGroups returns every group, sorted by name.
	ListGroups(ctx context.Context) ([]Group, error)
	// DeleteGroup removes a group; ErrNotFound when absent.
	DeleteGroup(ctx context.Context, name string) error

	// CreateToken inserts an enrollment token; ErrExists when its ID is taken.
	CreateToken(ctx context.Context, t Token) error
	// ListTokens returns every token, sorted by creation time.
	ListTokens(ctx context.Context) ([]Token, error)
	// ConsumeToken atomically checks that the token exists (ErrNotFound),
	// has not expired at now (ErrExpired) and has uses left (ErrExhausted),
	// then counts one use and returns the token after that use. Callers
	// check the secret with GetToken first, so a wrong secret costs no use.
	ConsumeToken(ctx context.Context, id string, now time.Time) (Token, error)
	// GetToken returns one token; ErrNotFound when absent.
	GetToken(ctx context.Context, id string) (Token, error)

	// PutSource inserts or replaces a source's definition, keeping its
	// fetch state (commit, error, fetched-at) when it already exists.
	PutSource(ctx context.Context, s Source) error
	GetSource(ctx context.Context, name string) (Source, error)
	// ListSources returns every source, sorted by name.
	ListSources(ctx context.Context) ([]Source, error)
	// DeleteSource removes a source and its bundles; ErrNotFound when absent.
	DeleteSource(ctx context.Context, name string) error
	// SetSourceFetch records the outcome of a fetch.
	SetSourceFetch(ctx context.Context, name string, f SourceFetch) error

	// ReplaceBundles sets the bundles of one source: bundles of that
	// source not in the list are removed.
	ReplaceBundles(ctx context.Context, source string, bundles []Bundle) error
	// ListBundles returns every bundle, sorted by name.
	ListBundles(ctx context.Context) ([]Bundle, error)

	// PutObjects stores objects by hash; existing hashes are left alone.
	PutObjects(ctx context.Context, objects map[string][]byte) error
	// GetObjects returns the objects it holds among hashes; missing hashes
	// are absent from the map, not an error.
	GetObjects(ctx context.Context, hashes []string) (map[string][]byte, error)

	// PutManifest stores the cluster's new signed manifest. Its generation
	// must be greater than the stored one's, else ErrConflict.
	PutManifest(ctx context.Context, m Manifest) error
	// PutManifests stores new signed manifests of many clusters in one
	// transaction; each generation must be greater than the stored one's,
	// else nothing is stored and the error wraps ErrConflict.
	PutManifests(ctx context.Context, ms []Manifest) error
	// GetManifest returns the cluster's current manifest; ErrNotFound when
	// it has none yet.
	GetManifest(ctx context.Context, clusterID string) (Manifest, error)
	// ListManifestHeads returns the generation and digest of every
	// cluster's current manifest, by cluster ID.
	ListManifestHeads(ctx context.Context) (map[string]ManifestHead, error)

	// PutStatuses replaces the statuses the clusters' agents last reported,
	// in one transaction (hubs batch the reports of many agents); a later
	// status of the same cluster wins.
	PutStatuses(ctx context.Context, ss []ClusterStatus) error
	// ListStatuses returns the last status of every cluster that reported.
	ListStatuses(ctx context.Context) ([]ClusterStatus, error)

	// PutRelease inserts an agent release, or, when its arch and version
	// exist with the same digest, replaces its targets and creation time
	// (pushing a build again makes it the newest); ErrConflict when they
	// exist with another digest.
	PutRelease(ctx context.Context, r Release) error
	// ListReleases returns every release, oldest first.
	ListReleases(ctx context.Context) ([]Release, error)
	// PutReleaseBlob keeps release bytes (a compressed build, a delta)
	// under a key; an existing key is left alone.
	PutReleaseBlob(ctx context.Context, key string, data []byte) error
	// GetReleaseBlob returns the bytes under key; ErrNotFound when absent.
	GetReleaseBlob(ctx context.Context, key string) ([]byte, error)
	// ListReleaseBlobs returns every blob key, sorted.
	ListReleaseBlobs(ctx context.Context) ([]string, error)

	Close() error
}

// Cluster is one enrolled edge cluster.
type Cluster struct {
	ID   string
	Name string
	// Labels are set by the operator (first from the enrollment token).
	Labels map[string]string
	// CertSerial is the serial of the client certificate issued at enrollment.
	CertSerial string
	CreatedAt  time.Time
	// LastSeen is when the agent last made a request; zero if never.
	LastSeen time.Time
	// Facts is the JSON of the wire.Facts the agent last reported; empty
	// before the first report.
	Facts []byte
}

// Group is a named label selector over clusters; its members follow
// cluster labels as they change.
type Group struct {
	Name     string
	Selector string
	// Labels are the group's own, which fleet.yaml's clusterGroupSelector
	// matches.
	Labels    map[string]string
	CreatedAt time.Time
}

// Token is an enrollment token. Only a hash of its secret is kept.
type Token struct {
	ID         string
	SecretHash []byte
	Labels     map[string]string
	CreatedAt  time.Time
	// ExpiresAt is zero for a token that never expires.
	ExpiresAt time.Time
	// MaxUses is 0 for unlimited.
	MaxUses int
	Uses    int
}

// Source is a Git repository the hub renders bundles from.
type Source struct {
	Name   string
	Repo   string
	Branch string
	Paths  []string
	Poll   time.Duration
	// Targets are label-selector strings over cluster labels; a cluster
	// matching any of them receives the source's bundles.
	Targets []string
	// TargetGroups name groups whose members also receive them.
	TargetGroups []string
	SourceFetch
}

// SourceFetch is the outcome of the last fetch of a source.
type SourceFetch struct {
	Commit    string
	Error     string
	FetchedAt time.Time
}

// Bundle is one directory of a source at one commit, rendered.
type Bundle struct {
	Name   string
	Source string
	Path   string
	Commit string
	// Objects are the hashes of the rendered objects in apply order.
	Objects []string
	// Error is set when the bundle failed to parse or render.
	Error    string
	Warnings []string
}

// Manifest is a cluster's signed desired state.
type Manifest struct {
	ClusterID  string
	Generation int64
	// Signed is the JSON of a wire.SignedManifest, served as is.
	Signed []byte
	// Digest identifies the content apart from the generation, so the hub
	// can tell whether a recomputed manifest changed anything.
	Digest string
	// Agent is the digest of the agent release the manifest names, "" for
	// none: a change of it alone is a new manifest too.
	Agent     string
	CreatedAt time.Time
}

// ManifestHead is a manifest without its signed bytes.
type ManifestHead struct {
	Generation int64
	Digest     string
	Agent      string
}

// Release is an agent build the hub serves. Its bytes are release blobs.
type Release struct {
	Version string
	Arch    string
	// Digest is the hex SHA-256 of the binary.
	Digest string
	Size   int64
	// Signed is the JSON of the wire.SignedRelease the hub made at push.
	Signed []byte
	// Targets are label selectors and TargetGroups group names, as a
	// source's: a cluster either matches receives the release.
	Targets      []string
	TargetGroups []string
	// CreatedAt orders releases: a cluster runs the newest that targets it.
	CreatedAt time.Time
}

// ClusterStatus is what a cluster's agent last reported.
type ClusterStatus struct {
	ClusterID string
	// Report is the JSON of the wire.StatusReport, kept as sent.
	Report     []byte
	ReceivedAt time.Time
}
