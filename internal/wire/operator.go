package wire

import "time"

// ClusterInfo is one row of GET /v1/clusters and `flotilla clusters list`.
type ClusterInfo struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	// Connected is true while the agent holds a long-poll or was seen
	// within the last long-poll interval.
	Connected bool       `json:"connected"`
	LastSeen  *time.Time `json:"lastSeen"`
	// DisconnectedSince is when the hub last heard from a cluster that is
	// not connected now; its state is the last one it reported.
	DisconnectedSince *time.Time `json:"disconnectedSince,omitempty"`
	Facts             *Facts     `json:"facts,omitempty"`
	// State summarises the cluster: its worst bundle state, WaitApplied
	// while the agent has not applied the desired generation, Pending
	// before the agent first reports.
	State             string         `json:"state"`
	Message           string         `json:"message,omitempty"`
	DesiredGeneration int64          `json:"desiredGeneration"`
	AppliedGeneration int64          `json:"appliedGeneration"`
	Bundles           []BundleStatus `json:"bundles"`
	// AgentVersion is the version the cluster's agent reports running;
	// DesiredAgentVersion the release the hub wants it to run, if any.
	AgentVersion        string `json:"agentVersion"`
	DesiredAgentVersion string `json:"desiredAgentVersion,omitempty"`
	// AgentUpdate is the outcome of the agent's last update.
	AgentUpdate *AgentUpdate `json:"agentUpdate,omitempty"`
}

// BundleInfo is one row of GET /v1/bundles and `flotilla bundles list`.
type BundleInfo struct {
	Name    string `json:"name"`
	Source  string `json:"source"`
	Path    string `json:"path"`
	Commit  string `json:"commit"`
	Objects int    `json:"objects"`
	// Clusters is how many clusters the bundle targets.
	Clusters int `json:"clusters"`
	// States counts the targeted clusters per bundle state; every state
	// is present, zero or not.
	States   map[string]int `json:"states"`
	Error    string         `json:"error,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// States lists every bundle state, best first.
var States = []string{StateReady, StateNotReady, StateErrApplied, StateWaitApplied, StateModified, StatePending, StateOutOfSync}

// SourceSpec is the body of POST /v1/sources and the operator's view of a
// source's definition.
type SourceSpec struct {
	Name    string   `json:"name"`
	Repo    string   `json:"repo"`
	Branch  string   `json:"branch,omitempty"`
	Paths   []string `json:"paths,omitempty"`
	Poll    Duration `json:"poll,omitempty"`
	Targets []string `json:"targets,omitempty"`
	// TargetGroups name cluster groups whose members receive the bundles.
	TargetGroups []string `json:"targetGroups,omitempty"`
}

// GroupSpec is the body of POST /v1/groups.
type GroupSpec struct {
	Name string `json:"name"`
	// Selector is a label selector over cluster labels and facts.
	Selector string `json:"selector"`
	// Labels are the group's own: fleet.yaml's clusterGroupSelector
	// matches them, as it matches a Fleet ClusterGroup's labels.
	Labels map[string]string `json:"labels,omitempty"`
}

// GroupInfo is one row of GET /v1/groups.
type GroupInfo struct {
	GroupSpec
	// Members are the names of the clusters the selector matches now.
	Members []string `json:"members"`
}

// Reserved label prefixes: facts reported by agents appear under them and
// operators cannot set them.
const (
	FactLabelPrefix         = "flotilla.io/"
	RuntimeClassLabelSuffix = "runtimeclass.flotilla.io/"
)

// SourceInfo is one row of GET /v1/sources.
type SourceInfo struct {
	SourceSpec
	Commit    string     `json:"commit,omitempty"`
	Error     string     `json:"error,omitempty"`
	FetchedAt *time.Time `json:"fetchedAt,omitempty"`
	// Failures counts the fetches that failed in a row; NextFetch is when
	// the hub tries again, backing off up to the poll interval.
	Failures  int        `json:"failures,omitempty"`
	NextFetch *time.Time `json:"nextFetch,omitempty"`
	Bundles   int        `json:"bundles"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Labels  map[string]string `json:"labels,omitempty"`
	TTL     Duration          `json:"ttl,omitempty"`
	MaxUses int               `json:"maxUses,omitempty"`
}

// TokenInfo describes a token without its secret.
type TokenInfo struct {
	ID        string            `json:"id"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	ExpiresAt *time.Time        `json:"expiresAt,omitempty"`
	MaxUses   int               `json:"maxUses"`
	Uses      int               `json:"uses"`
}

// TokenResponse answers POST /v1/tokens; Token is shown once, never stored.
type TokenResponse struct {
	TokenInfo
	Token string `json:"token"`
}
