package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
)

// signingContext separates manifest signatures from any other use of the key.
const signingContext = "flotilla-manifest-v1\x00"

// SigningInput is what the hub signs for a manifest payload.
func SigningInput(payload []byte) []byte {
	return append([]byte(signingContext), payload...)
}

// ManifestContent is the canonical encoding of a manifest's bundles. Hubs
// compute it once for every cluster that gets the same bundles.
func ManifestContent(bundles []BundleRef) ([]byte, error) {
	if bundles == nil {
		bundles = []BundleRef{}
	}
	return Canonical(bundles)
}

// SignManifest encodes m canonically and signs it.
func SignManifest(key ed25519.PrivateKey, m Manifest) (SignedManifest, error) {
	content, err := ManifestContent(m.Bundles)
	if err != nil {
		return SignedManifest{}, err
	}
	return SignContent(key, m.ClusterID, m.Generation, content)
}

// SignContent signs already encoded content for one cluster and generation.
func SignContent(key ed25519.PrivateKey, clusterID string, generation int64, content []byte) (SignedManifest, error) {
	sm, err := SignDigest(key, clusterID, generation, Hash(content))
	sm.Content = content
	return sm, err
}

// SignDigest signs the envelope for content known by its digest; the
// caller attaches the content. Hubs hash shared content once.
func SignDigest(key ed25519.PrivateKey, clusterID string, generation int64, digest string) (SignedManifest, error) {
	return SignEnvelope(key, Envelope{ClusterID: clusterID, Generation: generation, Content: digest})
}

// SignEnvelope signs an envelope; the caller attaches the content.
func SignEnvelope(key ed25519.PrivateKey, env Envelope) (SignedManifest, error) {
	payload, err := Canonical(env)
	if err != nil {
		return SignedManifest{}, err
	}
	return SignedManifest{Payload: payload, Signature: ed25519.Sign(key, SigningInput(payload))}, nil
}

// DecodeManifest reads a signed manifest without verifying it, for the
// hub's own records and for tests; agents use VerifyManifest.
func DecodeManifest(sm SignedManifest) (Manifest, error) {
	var env Envelope
	if err := json.Unmarshal(sm.Payload, &env); err != nil {
		return Manifest{}, fmt.Errorf("decoding manifest envelope: %w", err)
	}
	m := Manifest{ClusterID: env.ClusterID, Generation: env.Generation, Agent: env.Agent}
	if err := json.Unmarshal(sm.Content, &m.Bundles); err != nil {
		return Manifest{}, fmt.Errorf("decoding manifest content: %w", err)
	}
	return m, nil
}

// Verification failures. Agents report them and apply nothing.
var (
	ErrBadSignature    = errors.New("manifest signature does not verify")
	ErrWrongCluster    = errors.New("manifest is for another cluster")
	ErrOlderGeneration = errors.New("manifest generation is older than the one accepted")
	ErrBadContent      = errors.New("manifest content does not match its signed digest")
)

// VerifyManifest checks the signature of sm with pub, then that it is bound
// to clusterID and not older than have, and returns the manifest. An equal
// generation is accepted: it is the same state, fetched again.
func VerifyManifest(pub ed25519.PublicKey, sm SignedManifest, clusterID string, have int64) (Manifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Manifest{}, fmt.Errorf("verifying manifest: signing key has %d bytes", len(pub))
	}
	if sm.Delta != nil {
		return Manifest{}, errors.New("verifying manifest: its delta is not resolved")
	}
	if !ed25519.Verify(pub, SigningInput(sm.Payload), sm.Signature) {
		return Manifest{}, ErrBadSignature
	}
	var env Envelope
	if err := json.Unmarshal(sm.Payload, &env); err != nil {
		return Manifest{}, fmt.Errorf("decoding signed manifest: %w", err)
	}
	if Hash(sm.Content) != env.Content {
		return Manifest{}, ErrBadContent
	}
	m, err := DecodeManifest(sm)
	if err != nil {
		return Manifest{}, err
	}
	if m.ClusterID != clusterID {
		return Manifest{}, fmt.Errorf("%w: issued for %q", ErrWrongCluster, m.ClusterID)
	}
	if m.Generation < have {
		return Manifest{}, fmt.Errorf("%w: got %d, have %d", ErrOlderGeneration, m.Generation, have)
	}
	for _, b := range m.Bundles {
		for _, h := range b.Objects {
			if !ValidHash(h) {
				return Manifest{}, fmt.Errorf("verifying manifest: bundle %s names malformed hash %q", b.Name, h)
			}
		}
	}
	return m, nil
}
