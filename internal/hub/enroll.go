package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/store"
	"flotilla.io/flotilla/internal/token"
	"flotilla.io/flotilla/internal/wire"
)

// CreateToken makes an enrollment token. The secret is returned once and
// only its hash is kept.
func (h *Hub) CreateToken(ctx context.Context, req wire.TokenRequest) (wire.TokenResponse, error) {
	if err := validateLabels(req.Labels); err != nil {
		return wire.TokenResponse{}, err
	}
	if req.TTL < 0 || req.MaxUses < 0 {
		return wire.TokenResponse{}, errorf(Invalid, "ttl and max uses must not be negative")
	}
	tok, err := token.New(h.url, pki.Hash(h.ca.Cert))
	if err != nil {
		return wire.TokenResponse{}, fmt.Errorf("creating token: %w", err)
	}
	now := h.now().UTC()
	t := store.Token{
		ID:         tok.ID,
		SecretHash: token.HashSecret(tok.Secret),
		Labels:     req.Labels,
		CreatedAt:  now,
		MaxUses:    req.MaxUses,
	}
	if req.TTL > 0 {
		t.ExpiresAt = now.Add(time.Duration(req.TTL))
	}
	if err := h.store.CreateToken(ctx, t); err != nil {
		return wire.TokenResponse{}, fmt.Errorf("storing token: %w", err)
	}
	h.log.Info("token created", "token", t.ID, "labels", t.Labels, "maxUses", t.MaxUses)
	return wire.TokenResponse{TokenInfo: tokenInfo(t), Token: tok.String()}, nil
}

// Tokens lists enrollment tokens without their secrets.
func (h *Hub) Tokens(ctx context.Context) ([]wire.TokenInfo, error) {
	ts, err := h.store.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	out := make([]wire.TokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenInfo(t))
	}
	return out, nil
}

func tokenInfo(t store.Token) wire.TokenInfo {
	info := wire.TokenInfo{ID: t.ID, Labels: t.Labels, CreatedAt: t.CreatedAt, MaxUses: t.MaxUses, Uses: t.Uses}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt
		info.ExpiresAt = &exp
	}
	return info
}

// Enroll admits a cluster: it checks the token, signs the agent's
// certificate request and records the cluster with the token's labels.
func (h *Hub) Enroll(ctx context.Context, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	tok, err := token.Parse(req.Token)
	if err != nil {
		return wire.EnrollResponse{}, &Error{Kind: Unauthorized, Msg: "invalid bootstrap token", Err: err}
	}
	if tok.CAHash != pki.Hash(h.ca.Cert) {
		return wire.EnrollResponse{}, errorf(Unauthorized, "bootstrap token is for another hub")
	}
	if req.Name != "" {
		if errs := validation.IsDNS1123Label(req.Name); len(errs) > 0 {
			return wire.EnrollResponse{}, errorf(Invalid, "cluster name %q: %s", req.Name, errs[0])
		}
	}
	stored, err := h.store.GetToken(ctx, tok.ID)
	if err != nil || !token.SecretMatches(tok.Secret, stored.SecretHash) {
		// One answer for unknown IDs and wrong secrets: no oracle for IDs.
		return wire.EnrollResponse{}, errorf(Unauthorized, "bootstrap token is not valid")
	}
	// A request that cannot be signed must not spend a use of the token.
	csr, err := pki.ParseRequest([]byte(req.CSR))
	if err != nil {
		return wire.EnrollResponse{}, &Error{Kind: Invalid, Msg: "invalid certificate request", Err: err}
	}
	now := h.now().UTC()
	if _, err := h.store.ConsumeToken(ctx, tok.ID, now); err != nil {
		switch {
		case errors.Is(err, store.ErrExpired):
			return wire.EnrollResponse{}, errorf(Unauthorized, "bootstrap token has expired")
		case errors.Is(err, store.ErrExhausted):
			return wire.EnrollResponse{}, errorf(Unauthorized, "bootstrap token has no uses left")
		case errors.Is(err, store.ErrNotFound):
			return wire.EnrollResponse{}, errorf(Unauthorized, "bootstrap token is not valid")
		}
		return wire.EnrollResponse{}, fmt.Errorf("consuming token: %w", err)
	}
	id, err := newClusterID()
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	name := req.Name
	if name == "" {
		name = "cluster-" + id
	}
	certPEM, serial, err := h.ca.SignRequest(csr, id, now)
	if err != nil {
		return wire.EnrollResponse{}, &Error{Kind: Invalid, Msg: "invalid certificate request", Err: err}
	}
	c := store.Cluster{ID: id, Name: name, Labels: maps.Clone(stored.Labels), CertSerial: serial, CreatedAt: now}
	if err := h.store.CreateCluster(ctx, c); err != nil {
		if errors.Is(err, store.ErrExists) {
			return wire.EnrollResponse{}, errorf(Conflict, "a cluster named %q is already enrolled", name)
		}
		return wire.EnrollResponse{}, fmt.Errorf("recording cluster: %w", err)
	}
	h.log.Info("cluster enrolled", "cluster", id, "name", name, "token", tok.ID, "labels", c.Labels)
	// The first manifest follows on the agent's long-poll: enrollment
	// never waits for a render.
	h.queue.markClusters(0, id)
	return wire.EnrollResponse{
		ClusterID:   id,
		Name:        name,
		Certificate: string(certPEM),
		CA:          string(h.ca.CertPEM),
		SigningKey:  base64.StdEncoding.EncodeToString(h.key.Public().(ed25519.PublicKey)),
		Labels:      c.Labels,
	}, nil
}

func newClusterID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating cluster ID: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func validateLabels(l map[string]string) error {
	for k, v := range l {
		if reserved(k) {
			return errorf(Invalid, "label %s is reserved for facts agents report", k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return errorf(Invalid, "label key %q: %s", k, errs[0])
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return errorf(Invalid, "label %s value %q: %s", k, v, errs[0])
		}
	}
	return nil
}
