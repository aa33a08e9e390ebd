// Package token formats and parses bootstrap tokens. A token carries
// everything an agent needs to join a hub, as `kubeadm join` does: where the
// hub is, the hash of its CA (so the agent pins the hub before it sends
// anything), and a secret. The hub keeps only a hash of the secret.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// prefix names the token format so it can change without ambiguity.
const prefix = "flt1"

const (
	idLen     = 6
	secretLen = 32
	alphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// Token is a parsed bootstrap token.
type Token struct {
	// HubURL is the hub's agent endpoint, https://host:port.
	HubURL string
	// CAHash is "sha256:<hex>" of the hub CA certificate's DER bytes.
	CAHash string
	// ID names the token on the hub; it is not secret.
	ID     string
	Secret string
}

// New makes a token with a fresh ID and secret.
func New(hubURL, caHash string) (Token, error) {
	id, err := random(idLen)
	if err != nil {
		return Token{}, err
	}
	secret, err := random(secretLen)
	if err != nil {
		return Token{}, err
	}
	return Token{HubURL: hubURL, CAHash: caHash, ID: id, Secret: secret}, nil
}

// String formats the token: flt1.<base64url(hub URL)>.<CA hash hex>.<id>.<secret>.
func (t Token) String() string {
	return strings.Join([]string{
		prefix,
		base64.RawURLEncoding.EncodeToString([]byte(t.HubURL)),
		strings.TrimPrefix(t.CAHash, "sha256:"),
		t.ID,
		t.Secret,
	}, ".")
}

// ErrMalformed is returned for anything that is not a well-formed token.
var ErrMalformed = errors.New("malformed bootstrap token")

// Parse parses a token. Its errors never echo the secret.
func Parse(s string) (Token, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 5 || parts[0] != prefix {
		return Token{}, fmt.Errorf("%w: want %s.<hub>.<ca-hash>.<id>.<secret>", ErrMalformed, prefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Token{}, fmt.Errorf("%w: hub URL is not base64url", ErrMalformed)
	}
	u, err := url.Parse(string(raw))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Token{}, fmt.Errorf("%w: hub URL must be https://host[:port]", ErrMalformed)
	}
	if h, err := hex.DecodeString(parts[2]); err != nil || len(h) != sha256.Size {
		return Token{}, fmt.Errorf("%w: CA hash must be %d hex digits", ErrMalformed, 2*sha256.Size)
	}
	if !valid(parts[3], idLen) || !valid(parts[4], secretLen) {
		return Token{}, fmt.Errorf("%w: id or secret has the wrong length or characters", ErrMalformed)
	}
	return Token{HubURL: string(raw), CAHash: "sha256:" + parts[2], ID: parts[3], Secret: parts[4]}, nil
}

// HashSecret is what the hub stores in place of the secret.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// SecretMatches compares a secret with a stored hash in constant time.
func SecretMatches(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashSecret(secret), hash) == 1
}

func valid(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(alphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

func random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	for i := range b {
		// 256 is not a multiple of 36; the bias is negligible for a 36^32 secret.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}
