package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// releaseContext separates release signatures from manifest signatures
// made with the same key.
const releaseContext = "flotilla-agent-release-v1\x00"

// Agent architectures a release may be built for.
var ReleaseArchs = []string{"amd64", "arm64"}

// MaxReleaseSize bounds an agent binary the hub keeps and an agent
// writes: far above the 26 MB of a slim agent, far below a full disk.
const MaxReleaseSize = 256 << 20

// releaseVersion is what a release version may look like: a tag such as
// v1.4.2, 1.4.2-rc.1 or a `git describe` output.
var releaseVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// AgentRelease is one agent build the hub serves. The signature over it,
// and the manifest envelope that names it, bind its digest: the bytes an
// agent runs are the bytes the hub signed.
type AgentRelease struct {
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// Digest is the hex SHA-256 of the binary.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Check refuses a release that is not well formed.
func (r AgentRelease) Check() error {
	switch {
	case !releaseVersion.MatchString(r.Version):
		return fmt.Errorf("release version %q: want letters, digits and . _ + - (at most 64, e.g. v1.4.2)", r.Version)
	case !validArch(r.Arch):
		return fmt.Errorf("release arch %q: want one of %v", r.Arch, ReleaseArchs)
	case !ValidHash(r.Digest):
		return errors.New("release digest is not a hex SHA-256")
	case r.Size <= 0 || r.Size > MaxReleaseSize:
		return fmt.Errorf("release size %d: want 1 to %d bytes", r.Size, MaxReleaseSize)
	}
	return nil
}

func validArch(a string) bool {
	for _, k := range ReleaseArchs {
		if a == k {
			return true
		}
	}
	return false
}

// SignedRelease is an AgentRelease signed by the hub's key.
type SignedRelease struct {
	// Payload is the canonical JSON of the AgentRelease, as signed.
	Payload []byte `json:"payload"`
	// Signature is ed25519 over the release context and Payload.
	Signature []byte `json:"signature"`
}

// SignRelease checks r and signs it.
func SignRelease(key ed25519.PrivateKey, r AgentRelease) (SignedRelease, error) {
	if err := r.Check(); err != nil {
		return SignedRelease{}, err
	}
	payload, err := Canonical(r)
	if err != nil {
		return SignedRelease{}, err
	}
	return SignedRelease{Payload: payload, Signature: ed25519.Sign(key, releaseInput(payload))}, nil
}

func releaseInput(payload []byte) []byte {
	return append([]byte(releaseContext), payload...)
}

// Release refusals. An agent reports them and keeps running what it runs.
var (
	ErrReleaseSignature = errors.New("agent release signature does not verify")
	ErrReleaseArch      = errors.New("agent release is for another architecture")
)

// VerifyRelease checks the signature of sr with pub, that the release is
// well formed and built for arch, and returns it.
func VerifyRelease(pub ed25519.PublicKey, sr SignedRelease, arch string) (AgentRelease, error) {
	if len(pub) != ed25519.PublicKeySize {
		return AgentRelease{}, fmt.Errorf("verifying agent release: signing key has %d bytes", len(pub))
	}
	if !ed25519.Verify(pub, releaseInput(sr.Payload), sr.Signature) {
		return AgentRelease{}, ErrReleaseSignature
	}
	r, err := DecodeRelease(sr)
	if err != nil {
		return AgentRelease{}, err
	}
	if r.Arch != arch {
		return AgentRelease{}, fmt.Errorf("%w: %s is built for %s, this agent runs on %s", ErrReleaseArch, r.Version, r.Arch, arch)
	}
	return r, nil
}

// DecodeRelease reads and checks a signed release without verifying its
// signature, for the hub's own records; agents use VerifyRelease.
func DecodeRelease(sr SignedRelease) (AgentRelease, error) {
	var r AgentRelease
	if err := json.Unmarshal(sr.Payload, &r); err != nil {
		return AgentRelease{}, fmt.Errorf("decoding agent release: %w", err)
	}
	if err := r.Check(); err != nil {
		return AgentRelease{}, fmt.Errorf("decoding agent release: %w", err)
	}
	return r, nil
}

// Release encodings, in the ReleaseEncodingHeader of a download.
const (
	// ReleaseEncodingHeader names how a release download is encoded.
	ReleaseEncodingHeader = "Flotilla-Release-Encoding"
	// ReleaseGzip is the whole binary, gzip-compressed.
	ReleaseGzip = "gzip"
	// ReleaseDelta is a bindelta patch from the binary the agent named.
	ReleaseDelta = "delta"
)

// AgentInfo is what an agent says of itself in its facts.
type AgentInfo struct {
	Version string `json:"version,omitempty"`
	// Arch is the architecture the agent binary runs on (GOARCH), which
	// a release must be built for.
	Arch string `json:"arch,omitempty"`
}

// Agent update states, as reported in AgentUpdate.State.
const (
	// UpdateFailed: the release was refused or did not report healthy in
	// time; the agent went back to the binary it ran.
	UpdateFailed = "Failed"
	// UpdateRefused: the release did not verify; nothing was written.
	UpdateRefused = "Refused"
	// UpdateDone: the agent runs the release.
	UpdateDone = "Updated"
)

// AgentUpdate is the outcome of the last update the agent tried, sent
// with every status report until another update starts.
type AgentUpdate struct {
	Version string    `json:"version"`
	State   string    `json:"state"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// ReleaseInfo is one row of GET /v1/releases and `flotilla agent release
// list`.
type ReleaseInfo struct {
	AgentRelease
	Targets      []string  `json:"targets,omitempty"`
	TargetGroups []string  `json:"targetGroups,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	// Clusters is how many clusters want this release now; Running how
	// many of them report running it.
	Clusters int `json:"clusters"`
	Running  int `json:"running"`
	// Deltas names the versions the hub holds a delta from.
	Deltas []string `json:"deltas,omitempty"`
}

// ReleaseSpec is what `flotilla agent release push` sends with a build:
// POST /v1/releases?version=V&arch=A&target=S...&targetGroup=G... with the
// binary as the body.
type ReleaseSpec struct {
	Version      string   `json:"version"`
	Arch         string   `json:"arch"`
	Targets      []string `json:"targets,omitempty"`
	TargetGroups []string `json:"targetGroups,omitempty"`
}
