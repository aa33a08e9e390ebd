package hub

import (
	"context"
	"errors"
	"testing"

	"flotilla.io/flotilla/internal/pki"
	"flotilla.io/flotilla/internal/wire"
)

// TestEnrollRefusalSpendsNoUse: a request refused for its certificate
// request leaves a single-use token usable.
func TestEnrollRefusalSpendsNoUse(t *testing.T) {
	ctx := context.Background()
	h, _ := newTestHubWith(t, &dirFetcher{}, func(o *Options) { o.URL = "https://hub.example:8443" })
	tok, err := h.CreateToken(ctx, wire.TokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "not a CSR", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"} {
		_, err := h.Enroll(ctx, wire.EnrollRequest{Token: tok.Token, CSR: bad})
		var he *Error
		if !errors.As(err, &he) || he.Kind != Invalid {
			t.Errorf("CSR %q: %v, want Invalid", bad, err)
		}
	}
	csr, _, err := pki.NewCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Enroll(ctx, wire.EnrollRequest{Token: tok.Token, CSR: string(csr)}); err != nil {
		t.Errorf("enrolling after refused requests: %v", err)
	}
}
