package hubclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"flotilla.io/flotilla/internal/clientconfig"
	"flotilla.io/flotilla/internal/wire"
)

// Operator is the client of the operator API.
type Operator struct {
	c *client
}

// NewOperator returns a client for the hub a client config names.
func NewOperator(cfg clientconfig.Config) (*Operator, error) {
	pool, err := caPool(cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("loading hub CA from client config: %w", err)
	}
	tr := newTransport(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool})
	return &Operator{c: &client{base: cfg.Hub, http: &http.Client{Transport: tr, Timeout: time.Minute}, auth: "Bearer " + cfg.Token}}, nil
}

// Clusters lists clusters.
func (o *Operator) Clusters(ctx context.Context) ([]wire.ClusterInfo, error) {
	var out []wire.ClusterInfo
	_, err := o.c.do(ctx, http.MethodGet, "/v1/clusters", nil, &out)
	return out, err
}

// Bundles lists bundles.
func (o *Operator) Bundles(ctx context.Context) ([]wire.BundleInfo, error) {
	var out []wire.BundleInfo
	_, err := o.c.do(ctx, http.MethodGet, "/v1/bundles", nil, &out)
	return out, err
}

// Sources lists sources.
func (o *Operator) Sources(ctx context.Context) ([]wire.SourceInfo, error) {
	var out []wire.SourceInfo
	_, err := o.c.do(ctx, http.MethodGet, "/v1/sources", nil, &out)
	return out, err
}

// AddSource creates or replaces a source.
func (o *Operator) AddSource(ctx context.Context, s wire.SourceSpec) (wire.SourceInfo, error) {
	var out wire.SourceInfo
	_, err := o.c.do(ctx, http.MethodPost, "/v1/sources", s, &out)
	return out, err
}

// DeleteSource removes a source.
func (o *Operator) DeleteSource(ctx context.Context, name string) error {
	_, err := o.c.do(ctx, http.MethodDelete, "/v1/sources/"+url.PathEscape(name), nil, nil)
	return err
}

// CreateToken creates an enrollment token.
func (o *Operator) CreateToken(ctx context.Context, r wire.TokenRequest) (wire.TokenResponse, error) {
	var out wire.TokenResponse
	_, err := o.c.do(ctx, http.MethodPost, "/v1/tokens", r, &out)
	return out, err
}

// Tokens lists enrollment tokens.
func (o *Operator) Tokens(ctx context.Context) ([]wire.TokenInfo, error) {
	var out []wire.TokenInfo
	_, err := o.c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out, err
}

// Groups lists cluster groups with their members.
func (o *Operator) Groups(ctx context.Context) ([]wire.GroupInfo, error) {
	var out []wire.GroupInfo
	_, err := o.c.do(ctx, http.MethodGet, "/v1/groups", nil, &out)
	return out, err
}

// PutGroup creates or replaces a cluster group.
func (o *Operator) PutGroup(ctx context.Context, g wire.GroupSpec) (wire.GroupInfo, error) {
	var out wire.GroupInfo
	_, err := o.c.do(ctx, http.MethodPost, "/v1/groups", g, &out)
	return out, err
}

// DeleteGroup removes a cluster group.
func (o *Operator) DeleteGroup(ctx context.Context, name string) error {
	_, err := o.c.do(ctx, http.MethodDelete, "/v1/groups/"+url.PathEscape(name), nil, nil)
	return err
}
