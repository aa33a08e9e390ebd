package helmrepo

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func addIndexSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "index", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed indexes: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, q := range [][2]string{{"podinfo", ""}, {"podinfo", "~6.5.0"}, {"cert-manager", "1.14.2"}, {"demo", "0.2.x"}, {"odd", ""}, {"nulls", "not-semver"}} {
			f.Add(data, q[0], q[1])
		}
	}
}

// FuzzIndex parses an index and resolves a version. Whatever the bytes,
// nothing panics, and a chart picked is one of the index's entries for
// that name with a version and a URL; it is the version asked for, or
// one that satisfies it as a constraint, and no other entry satisfying
// it is higher.
func FuzzIndex(f *testing.F) {
	addIndexSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, name, version string) {
		idx, err := parseIndex(data)
		if err != nil {
			return
		}
		e, err := pick(idx, name, version)
		if err != nil {
			return
		}
		if !slices.Contains(idx.Entries[name], e) {
			t.Fatalf("picked %+v, not an entry of %q", e, name)
		}
		if e.Version == "" || len(e.URLs) == 0 {
			t.Fatalf("picked an entry without version or URL: %+v", e)
		}
		if version != "" && e.Version == version {
			return
		}
		constraint := version
		if constraint == "" {
			constraint = "*"
		}
		c, err := semver.NewConstraint(constraint)
		if err != nil {
			t.Fatalf("picked %s for an unparsable constraint %q", e.Version, constraint)
		}
		v, err := semver.NewVersion(e.Version)
		if err != nil || !c.Check(v) {
			t.Fatalf("picked %s, which does not satisfy %q", e.Version, constraint)
		}
		for _, o := range idx.Entries[name] {
			ov, err := semver.NewVersion(o.Version)
			if err == nil && c.Check(ov) && ov.GreaterThan(v) {
				t.Fatalf("picked %s, but %s also satisfies %q", e.Version, o.Version, constraint)
			}
		}
	})
}

// FuzzChartURL resolves an index's chart URL against a repository. An
// accepted URL is http or https with a host; a reference without scheme
// or host stays on the repository's scheme and host; and the URL given
// to the client reads back as itself.
func FuzzChartURL(f *testing.F) {
	for _, s := range [][2]string{
		{"https://charts.example/stable", "c-1.0.0.tgz"}, {"https://charts.example/", "../../c.tgz"},
		{"https://charts.example/", "//cdn.example/c.tgz"}, {"http://127.0.0.1:8080/charts", "http://169.254.169.254/"},
		{"https://charts.example/", "file:///etc/passwd"}, {"https://u:p@charts.example/a%2Fb", "c.tgz?x=1#f"},
		{"https://charts.example/", "http:///x"}, {"https://charts.example/", "HTTPS://CDN.example/c.tgz"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, repo, raw string) {
		base, err := repoURL(repo)
		if err != nil {
			return
		}
		u, err := chartURL(base, raw)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted %q with scheme %q", u, u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("accepted %q without a host", u)
		}
		if ref, err := url.Parse(raw); err == nil && ref.Scheme == "" && ref.Host == "" && !strings.HasPrefix(raw, "//") {
			if u.Scheme != base.Scheme || u.Host != base.Host {
				t.Fatalf("relative %q against %q left the repository: %q", raw, repo, u)
			}
		}
		back, err := url.Parse(u.String())
		if err != nil || back.Scheme != u.Scheme || back.Host != u.Host {
			t.Fatalf("%q does not read back as itself: %v, %v", u, back, err)
		}
	})
}
