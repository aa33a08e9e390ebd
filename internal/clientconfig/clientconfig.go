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

// Load reads a config file and checks that it is complete.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading client config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("parsing client config %s: %w", path, err)
	}
	switch {
	case c.Hub == "":
		return Config{}, fmt.Errorf("client config %s: hub is empty", path)
	case c.CA == "":
		return Config{}, fmt.Errorf("client config %s: ca is empty", path)
	case c.Token == "":
		return Config{}, fmt.Errorf("client config %s: token is empty", path)
	}
	return c, nil
}

// Write writes c to path with mode 0600, atomically.
func Write(path string, c Config) error {
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
