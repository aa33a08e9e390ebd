package clientconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goodConfig is testdata/admin.yaml, written by Write with a CA from pki.
func goodConfig(t testing.TB) (Config, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "admin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("admin.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return c, data
}

func TestParse(t *testing.T) {
	good, _ := goodConfig(t)
	const secret = "s3cr3t-t0ken-value"
	tests := []struct {
		name string
		edit func(c *Config)
		// wantErr is in the error; empty when the config is accepted.
		wantErr string
	}{
		{"as the hub writes it", func(*Config) {}, ""},
		{"hub with a path", func(c *Config) { c.Hub = "https://hub.example/flotilla" }, ""},
		{"base64 token with padding", func(c *Config) { c.Token = "YWJj+/9=" }, ""},
		{"no hub", func(c *Config) { c.Hub = "" }, "hub is empty"},
		{"plain http hub", func(c *Config) { c.Hub = "http://hub.example:8443" }, `hub "http://hub.example:8443" is not an https://host[:port] URL`},
		{"hub without host", func(c *Config) { c.Hub = "https:///v1" }, "is not an https://host[:port] URL"},
		{"hub with credentials", func(c *Config) { c.Hub = "https://admin:" + secret + "@hub.example" }, "hub URL holds credentials"},
		{"hub that does not parse", func(c *Config) { c.Hub = "https://" + secret + "%zz" }, "hub is not a URL"},
		{"hub with a query", func(c *Config) { c.Hub = "https://hub.example/?x=1" }, "has a query or fragment"},
		{"no ca", func(c *Config) { c.CA = "" }, "ca is empty"},
		{"ca not PEM", func(c *Config) { c.CA = "hello" }, "ca holds no PEM certificate"},
		{"ca is a key", func(c *Config) { c.CA = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }, `PEM block 1 is a "PRIVATE KEY"`},
		{"ca does not parse", func(c *Config) { c.CA = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, "certificate 1 does not parse"},
		{"ca with trailing text", func(c *Config) { c.CA += "junk" }, "text after its last PEM certificate"},
		{"no token", func(c *Config) { c.Token = "" }, "token is empty"},
		{"token with a space", func(c *Config) { c.Token = secret + " x" }, "token has a character a bearer token cannot hold, at byte 19 of 20"},
		{"token with a newline", func(c *Config) { c.Token = secret + "\r\nX-Evil: 1" }, "token has a character"},
		{"token of padding", func(c *Config) { c.Token = "==" }, "token is only padding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			data, err := yamlOf(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse("admin.yaml", data)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if diff := cmp.Diff(c, got); diff != "" {
					t.Errorf("Parse (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted the config, want an error with %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "admin.yaml") {
				t.Errorf("Parse error %q, want it to name admin.yaml and contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Parse error %q repeats a secret", err)
			}
		})
	}
}

func TestParseRefusesWhatIsNotAConfig(t *testing.T) {
	_, data := goodConfig(t)
	tests := []struct {
		name, in, wantErr string
	}{
		{"unknown key", string(data) + "tokne: x\n", `unknown field "tokne"`},
		{"not YAML", "hub: [\n", "parsing client config admin.yaml"},
		{"a list", "- a\n", "parsing client config admin.yaml"},
		{"empty", "", "hub is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("admin.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}

func TestWriteLoad(t *testing.T) {
	good, _ := goodConfig(t)
	path := filepath.Join(t.TempDir(), "admin.yaml")
	if err := Write(path, good); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(good, got); diff != "" {
		t.Errorf("Load after Write (-want +got):\n%s", diff)
	}
	bad := good
	bad.Hub = "http://hub.example"
	if err := Write(path, bad); err == nil || !strings.Contains(err.Error(), "is not an https") {
		t.Errorf("Write of an http hub: %v, want it refused", err)
	}
	if got, err := Load(path); err != nil || got != good {
		t.Errorf("a refused Write changed the file: %+v, %v", got, err)
	}
}
