package gitsource

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// endpoint parses a source URL: file://, a plain local path, http(s):// or
// ssh:// (including scp-like user@host:path). Other schemes are refused.
func endpoint(raw string) (*transport.Endpoint, error) {
	if raw == "" {
		return nil, errors.New("empty URL")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		// The parse error may quote the URL, credentials and all.
		return nil, fmt.Errorf("parsing URL %s: invalid URL", redactURL(raw))
	}
	switch ep.Protocol {
	case "http", "https", "ssh":
	case "file":
		// go-git's in-process server opens a directory as a bare
		// repository unless it has a .git directory, but then it reads
		// objects from the work tree itself; point it at .git.
		if fi, err := os.Stat(filepath.Join(ep.Path, ".git")); err == nil && fi.IsDir() {
			ep.Path = filepath.Join(ep.Path, ".git")
		}
	default:
		return nil, fmt.Errorf("parsing URL %s: unsupported scheme %q (want file, http, https or ssh)", redactURL(raw), ep.Protocol)
	}
	return ep, nil
}

// redactURL returns raw with any password replaced, for messages and logs.
// Strings that do not parse as URLs are returned with anything that looks
// like user:password@ cut down to user@.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		return u.String()
	}
	return redactUserinfo(raw)
}

// redactUserinfo cuts "user:secret@" to "user:redacted@" wherever a
// "scheme://" is followed by userinfo, for text that is not a single URL,
// such as an error message from a library.
func redactUserinfo(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/ \t\n\"'")
		if end < 0 {
			end = len(s)
		}
		authority := s[:end]
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if colon := strings.Index(authority[:at], ":"); colon >= 0 {
				b.WriteString(authority[:colon] + ":redacted")
				s = s[at:]
				continue
			}
		}
		b.WriteString(authority)
		s = s[end:]
	}
}
