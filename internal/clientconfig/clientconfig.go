// Package clientconfig reads and writes the operator's client config, the
// admin.yaml a hub writes on first start: where the hub is, the CA to trust
// it with, and the bearer token to present.
package clientconfig

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"flotilla.io/flotilla/internal/atomicfile"
)

// EnvVar names the variable the CLI reads when --config is not given.
const EnvVar = "FLOTILLA_CONFIG"

// Config is an operator's client config.
type Config struct {
	// Hub is the hub's base URL, https://host:port.
	Hub string `json:"hub"`
	// CA is the PEM certificate of the hub's CA.
	CA string `json:"ca"`
	// Token is the operator bearer token.
	Token string `json:"token"`
}

// Load reads a config file and checks it (see Parse).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading client config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a config and checks it (see Validate); name is the file
// named in errors. No error repeats the token.
func Parse(name string, data []byte) (Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("parsing client config %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("client config %s: %w", name, err)
	}
	return c, nil
}

// Validate checks that a config can be used: the hub an https URL without
// credentials in it (the token is the credential), the CA one or more PEM
// certificates that parse, the token present and fit for an Authorization
// header. Its errors never repeat the token.
func (c Config) Validate() error {
	if err := validateHub(c.Hub); err != nil {
		return err
	}
	if err := validateCA(c.CA); err != nil {
		return err
	}
	return validateToken(c.Token)
}

// Write checks c and writes it to path with mode 0600, atomically.
func Write(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("writing client config %s: %w", path, err)
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding client config: %w", err)
	}
	return atomicfile.Write(path, data, 0o600)
}

// Resolve picks the config path: flag, else $FLOTILLA_CONFIG.
func Resolve(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv(EnvVar); env != "" {
		return env, nil
	}
	return "", errors.New("no client config: pass --config FILE or set " + EnvVar + " (the hub writes DATA-DIR/admin.yaml)")
}
