package clientconfig

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

func validateHub(hub string) error {
	if hub == "" {
		return errors.New("hub is empty")
	}
	u, err := url.Parse(hub)
	// The URL is not repeated unless it parsed without credentials: a
	// mistyped one may hold a secret.
	switch {
	case err != nil:
		return errors.New("hub is not a URL")
	case u.User != nil:
		return errors.New("hub URL holds credentials: the token is given apart, under token")
	case u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("hub %q is not an https://host[:port] URL", hub)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("hub %q has a query or fragment", hub)
	}
	return nil
}

// validateCA wants at least one PEM certificate and only certificates
// that parse: a CA the client would silently skip is a config error.
func validateCA(ca string) error {
	if ca == "" {
		return errors.New("ca is empty")
	}
	rest := []byte(ca)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("ca: PEM block %d is a %q, not a CERTIFICATE", n, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("ca: certificate %d does not parse: %w", n, err)
		}
	}
	switch {
	case n == 0:
		return errors.New("ca holds no PEM certificate")
	case len(bytes.TrimSpace(rest)) > 0:
		return errors.New("ca has text after its last PEM certificate")
	}
	return nil
}

// validateToken wants RFC 6750's b64token characters, what an
// Authorization header can carry as is; the hub writes hex.
func validateToken(token string) error {
	if token == "" {
		return errors.New("token is empty")
	}
	chars := strings.TrimRight(token, "=")
	if chars == "" {
		return errors.New("token is only padding")
	}
	for i := 0; i < len(chars); i++ {
		c := chars[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return fmt.Errorf("token has a character a bearer token cannot hold, at byte %d of %d", i+1, len(token))
		}
	}
	return nil
}
