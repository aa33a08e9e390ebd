package clientconfig

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func yamlOf(c Config) ([]byte, error) { return yaml.Marshal(c) }

// FuzzParse: whatever admin.yaml holds, Parse either refuses it or returns
// a config the CLI can use as it is: an https URL with a host and no
// credentials, a CA the client's certificate pool takes, a token that can
// go in a header as is. An accepted config written and parsed again is
// the same config.
func FuzzParse(f *testing.F) {
	_, data := goodConfig(f)
	f.Add(data)
	f.Add([]byte("hub: https://h\nca: x\ntoken: t\n"))
	f.Add([]byte("hub: https://u:p@h\n"))
	f.Add([]byte("{hub: 1, ca: [], token: {}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("admin.yaml", data)
		if err != nil {
			if c != (Config{}) {
				t.Fatal("Parse returned a config with an error")
			}
			return
		}
		u, err := url.Parse(c.Hub)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			t.Fatalf("accepted hub %q", c.Hub)
		}
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CA)) {
			t.Fatal("accepted a CA the client cannot load")
		}
		if c.Token == "" || strings.ContainsFunc(c.Token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			t.Fatalf("accepted token %q", c.Token)
		}
		again, err := yamlOf(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse("admin.yaml", again)
		if err != nil {
			t.Fatalf("written again, the config is refused: %v", err)
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Fatalf("written and parsed again (-first +second):\n%s", diff)
		}
	})
}

// FuzzParseKeepsTokenSecret: whatever surrounds it, a token never appears
// in an error, even when the YAML around it is broken.
func FuzzParseKeepsTokenSecret(f *testing.F) {
	good, _ := goodConfig(f)
	f.Add(good.Hub, good.Token, "")
	f.Add("http://h", "abcdefgh12345678", "")
	f.Add(good.Hub, "abcdefgh 12345678", "")
	f.Add(good.Hub, "[abcdefgh12345678", "")
	f.Add(good.Hub, "{abcdefgh12345678: x}", "")
	f.Add(good.Hub, "abcdefgh12345678", "x: [\n")
	f.Add(good.Hub, "abcdefgh12345678", "token: again\n")
	f.Add(good.Hub, "? [abcdefgh12345678]\n: x", "")
	f.Fuzz(func(t *testing.T, hub, token, tail string) {
		ca := "ca: |\n  " + strings.ReplaceAll(strings.TrimSpace(good.CA), "\n", "\n  ") + "\n"
		in := "hub: " + hub + "\n" + ca + "token: " + token + "\n" + tail
		secret := strings.TrimSpace(token)
		if len(secret) < 8 || strings.Count(in, secret) > 1 || strings.Contains(good.CA+"admin.yaml hub ca token", secret) {
			return // too short, or also elsewhere: no telling a leak apart
		}
		_, err := Parse("admin.yaml", []byte(in))
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q repeats the token", err)
		}
	})
}
