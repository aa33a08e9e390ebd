package gitsource

import (
	"net/url"
	"strings"
	"testing"
)

func TestEndpointSchemes(t *testing.T) {
	tests := []struct {
		name, url, wantProtocol string
		wantErr                 bool
	}{
		{name: "https", url: "https://example.com/r.git", wantProtocol: "https"},
		{name: "http with credentials", url: "http://u:p@example.com/r.git", wantProtocol: "http"},
		{name: "ssh", url: "ssh://git@example.com:2222/r.git", wantProtocol: "ssh"},
		{name: "scp-like ssh", url: "git@example.com:team/r.git", wantProtocol: "ssh"},
		{name: "file", url: "file:///srv/r.git", wantProtocol: "file"},
		{name: "plain path", url: "/srv/r.git", wantProtocol: "file"},
		{name: "git protocol", url: "git://example.com/r.git", wantErr: true},
		{name: "unknown scheme", url: "gopher://example.com/r", wantErr: true},
		{name: "empty", url: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := endpoint(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("endpoint(%q) = %v, want an error", tt.url, ep)
				}
				return
			}
			if err != nil {
				t.Fatalf("endpoint(%q): %v", tt.url, err)
			}
			if ep.Protocol != tt.wantProtocol {
				t.Errorf("protocol = %q, want %q", ep.Protocol, tt.wantProtocol)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "url with password", in: "https://u:s3cret@h/r.git", want: "https://u:redacted@h/r.git"},
		{name: "url with user only", in: "https://u@h/r.git", want: "https://u@h/r.git"},
		{name: "no userinfo", in: "https://h/r.git", want: "https://h/r.git"},
		{name: "message", in: `Get "http://u:s3cret@h:1/r.git/info/refs": refused`, want: `Get "http://u:redacted@h:1/r.git/info/refs": refused`},
		{name: "two urls", in: "a://x:y@h b://z:w@k/p", want: "a://x:redacted@h b://z:redacted@k/p"},
		{name: "at in path", in: "https://h/a:b@c", want: "https://h/a:b@c"},
		{name: "scp-like", in: "git@h:team/r.git", want: "git@h:team/r.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzEndpoint checks that parsing never panics and that neither the parse
// error nor the redacted URL repeats a password.
func FuzzEndpoint(f *testing.F) {
	for _, s := range []string{"https://u:pw@h/r", "ssh://git@h:22/r", "/srv/r.git", "file:///r", "git@h:r", "http://[::1]:80/r", "h:p@x", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := endpoint(raw)
		u, perr := url.Parse(raw)
		if perr != nil || u.User == nil {
			return
		}
		pw, ok := u.User.Password()
		if !ok || len(pw) < 6 || strings.Contains("redacted", pw) || strings.Contains(strings.Replace(raw, pw, "", 1), pw) {
			return // too short or repeated elsewhere to tell a leak from the rest
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("error %q repeats the password", err)
		}
		if strings.Contains(redactURL(raw), pw) {
			t.Errorf("redactURL(%q) keeps the password", raw)
		}
	})
}
