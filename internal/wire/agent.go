package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"sync"
	"time"
)

// EnrollRequest is the body of POST /v1/enroll. The token proves the agent
// may join; the CSR (PEM) carries the public key its client certificate will
// bind.
type EnrollRequest struct {
	// Token is the whole bootstrap token as printed by `flotilla token create`.
	Token string `json:"token"`
	// Name is the cluster name the agent asks for; the hub picks one when empty.
	Name string `json:"name,omitempty"`
	// CSR is a PEM-encoded PKCS#10 certificate request.
	CSR string `json:"csr"`
}

// EnrollResponse answers a successful enrollment.
type EnrollResponse struct {
	ClusterID string `json:"clusterID"`
	Name      string `json:"name"`
	// Certificate is the agent's PEM client certificate.
	Certificate string `json:"certificate"`
	// CA is the PEM bundle that signs the hub's serving certificate and the
	// agent's client certificate.
	CA string `json:"ca"`
	// SigningKey is the hub's ed25519 public key that signs manifests, in
	// base64 (standard encoding) of its 32 raw bytes.
	SigningKey string            `json:"signingKey"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// Manifest is one cluster's desired state. It is never sent bare: the hub
// sends SignedManifest, whose Payload is the canonical encoding of this
// struct.
type Manifest struct {
	// ClusterID binds the manifest to one cluster: an agent refuses a
	// manifest issued for another.
	ClusterID string `json:"clusterID"`
	// Generation grows by one each time the cluster's desired state changes.
	// An agent never applies a generation lower than one it has accepted.
	Generation int64 `json:"generation"`
	// Bundles are sorted by name.
	Bundles []BundleRef `json:"bundles"`
	// Agent is the agent release the cluster should run, nil for none
	// (protocol 2). Its own signature is checked apart, by the updater: a
	// release refused never holds back the bundles.
	Agent *SignedRelease `json:"-"`
}

// BundleRef is one bundle as targeted at one cluster.
type BundleRef struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Commit string `json:"commit"`
	// Objects are the SHA-256 hashes (hex) of the canonical bytes of the
	// bundle's rendered objects, in apply order.
	Objects []string `json:"objects"`
	// Error is set when the bundle failed to render for this cluster; the
	// agent then keeps what it has for this bundle and reports the error.
	Error string `json:"error,omitempty"`
	// DependsOn names bundles of this manifest that must be Ready on the
	// cluster before this one is applied (fleet.yaml dependsOn, resolved).
	DependsOn []string `json:"dependsOn,omitempty"`
	// Drift says how the agent treats changes others make to the bundle's
	// objects; nil means correct every drift.
	Drift *DriftPolicy `json:"drift,omitempty"`
	// Paused bundles are kept as they are: not applied, not pruned.
	Paused bool `json:"paused,omitempty"`
}

// DriftPolicy is fleet.yaml's correctDrift and diff.comparePatches.
type DriftPolicy struct {
	// Correct reverts drift; when false drift is reported as Modified.
	Correct bool `json:"correct"`
	// Ignore excludes fields of matching objects from drift comparison.
	Ignore []IgnoreFields `json:"ignore,omitempty"`
}

// IgnoreFields names fields, by JSON pointer, of the objects it matches;
// empty matchers match any object.
type IgnoreFields struct {
	APIVersion   string   `json:"apiVersion,omitempty"`
	Kind         string   `json:"kind,omitempty"`
	Namespace    string   `json:"namespace,omitempty"`
	Name         string   `json:"name,omitempty"`
	JSONPointers []string `json:"jsonPointers"`
}

// SignedManifest is the body of GET /v1/agent/manifest. The signature
// covers a small envelope that binds the cluster and generation to the
// digest of the content, so a hub signs a few hundred bytes per cluster and
// stores one copy of content that thousands of clusters share.
type SignedManifest struct {
	// Payload is the canonical JSON of an Envelope, embedded as is so that
	// the bytes verified are the bytes signed.
	Payload []byte `json:"payload"`
	// Signature is the ed25519 signature over SigningInput(Payload).
	Signature []byte `json:"signature"`
	// Content is the canonical JSON of the manifest's bundles, embedded as
	// JSON (not base64) so that it compresses; its Hash is the envelope's
	// Content. encoding/json keeps canonical bytes as they are.
	Content json.RawMessage `json:"content,omitempty"`
	// Delta, sent instead of Content, rebuilds it from content the agent
	// said it holds (see ResolveDelta).
	Delta *ContentDelta `json:"delta,omitempty"`
	// Objects are objects of this manifest the hub knows the agent lacks,
	// shipped along to save a round trip; agents verify each against the
	// manifest and fetch whatever is still missing.
	Objects []ShippedObject `json:"objects,omitempty"`
}

// Envelope is what a manifest signature covers.
type Envelope struct {
	ClusterID  string `json:"clusterID"`
	Generation int64  `json:"generation"`
	// Content is the Hash of SignedManifest.Content.
	Content string `json:"content"`
	// Agent is the agent release the cluster should run (protocol 2);
	// older agents ignore it.
	Agent *SignedRelease `json:"agent,omitempty"`
}

// ObjectsRequest is the body of POST /v1/agent/objects.
type ObjectsRequest struct {
	Hashes []string `json:"hashes"`
}

// ObjectsResponse carries objects by hash. Each value is the object's
// canonical bytes, embedded as JSON; the agent checks that they hash to
// their key.
type ObjectsResponse struct {
	Objects map[string]json.RawMessage `json:"objects"`
}

// RawObjects converts objects by hash for an ObjectsResponse.
func RawObjects(objs map[string][]byte) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(objs))
	for h, b := range objs {
		out[h] = b
	}
	return out
}

// Bytes returns the objects of a response as plain bytes by hash.
func (r ObjectsResponse) Bytes() map[string][]byte {
	out := make(map[string][]byte, len(r.Objects))
	for h, b := range r.Objects {
		out[h] = b
	}
	return out
}

// Bundle states, named as Rancher Fleet names them.
const (
	StateReady       = "Ready"
	StateNotReady    = "NotReady"
	StateErrApplied  = "ErrApplied"
	StateWaitApplied = "WaitApplied"
	StateModified    = "Modified"
	StatePending     = "Pending"
	StateOutOfSync   = "OutOfSync"
)

// StatusReport is the body of POST /v1/agent/status.
type StatusReport struct {
	// AppliedGeneration is the highest generation the agent has applied.
	AppliedGeneration int64 `json:"appliedGeneration"`
	// Error is an agent-level error: a manifest refused, a store failure.
	Error   string         `json:"error,omitempty"`
	Bundles []BundleStatus `json:"bundles"`
	// Time is when the agent produced this report.
	Time time.Time `json:"time"`
	// Facts describe the cluster; sent when they change.
	Facts *Facts `json:"facts,omitempty"`
	// Transitions are bundle state changes since the last delivered
	// report, oldest first, bounded; kept across outages.
	Transitions []Transition `json:"transitions,omitempty"`
	// AgentUpdate is the outcome of the last agent update tried
	// (protocol 2).
	AgentUpdate *AgentUpdate `json:"agentUpdate,omitempty"`
}

// Facts are what an agent finds out about its cluster. The hub exposes them
// as reserved labels (flotilla.io/arch, ...) that selectors match.
type Facts struct {
	Arch              string `json:"arch,omitempty"`
	OS                string `json:"os,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	Nodes             int    `json:"nodes,omitempty"`
	// MemoryGiB is the nodes' allocatable memory in whole GiB, summed.
	MemoryGiB int `json:"memoryGiB,omitempty"`
	// RuntimeClasses are the names of the cluster's RuntimeClasses.
	RuntimeClasses []string `json:"runtimeClasses,omitempty"`
	// APIVersions are the group/versions the API server serves, for Helm's
	// .Capabilities.APIVersions.
	APIVersions []string `json:"apiVersions,omitempty"`
	// Agent is the agent's own version and architecture (protocol 2).
	Agent *AgentInfo `json:"agent,omitempty"`
}

// Transition is one bundle state change as the agent saw it.
type Transition struct {
	Bundle  string    `json:"bundle"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// BundleStatus is one bundle's state on one cluster.
type BundleStatus struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// Generation is the manifest generation this state refers to.
	Generation int64 `json:"generation"`
}

// Error is the body of every error response.
type Error struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// compressMin is the request size above which agents gzip request bodies:
// status reports of many bundles and object lists are mostly repetition.
const compressMin = 1024

// CompressRequest gzips an agent's request body when that pays, returning
// the body to send and its Content-Encoding ("" when sent as is).
func CompressRequest(body []byte) ([]byte, string) {
	if len(body) < compressMin {
		return body, ""
	}
	var buf bytes.Buffer
	zw := requestWriters.Get().(*gzip.Writer)
	defer requestWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(body); err != nil || zw.Close() != nil || buf.Len() >= len(body) {
		return body, ""
	}
	return buf.Bytes(), "gzip"
}

// requestWriters are reused: a compressor's state costs far more to
// allocate than a small request costs to compress.
var requestWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}
