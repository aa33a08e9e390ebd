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

// SignManifest encodes m canonically and signs it.
func SignManifest(key ed25519.PrivateKey, m Manifest) (SignedManifest, error) {
	payload, err := Canonical(m)
	if err != nil {
		return SignedManifest{}, err
	}
	return SignedManifest{Payload: payload, Signature: ed25519.Sign(key, SigningInput(payload))}, nil
}

// Verification failures. Agents report them and apply nothing.
var (
	ErrBadSignature    = errors.New("manifest signature does not verify")
	ErrWrongCluster    = errors.New("manifest is for another cluster")
	ErrOlderGeneration = errors.New("manifest generation is older than the one accepted")
)

// VerifyManifest checks the signature of sm with pub, then that it is bound
// to clusterID and not older than have, and returns the manifest. An equal
// generation is accepted: it is the same state, fetched again.
func VerifyManifest(pub ed25519.PublicKey, sm SignedManifest, clusterID string, have int64) (Manifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Manifest{}, fmt.Errorf("verifying manifest: signing key has %d bytes", len(pub))
	}
	if !ed25519.Verify(pub, SigningInput(sm.Payload), sm.Signature) {
		return Manifest{}, ErrBadSignature
	}
	var m Manifest
	if err := json.Unmarshal(sm.Payload, &m); err != nil {
		return Manifest{}, fmt.Errorf("decoding signed manifest: %w", err)
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
