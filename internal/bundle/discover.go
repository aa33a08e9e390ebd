package bundle

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Names of the file that makes a directory a bundle; Fleet reads fleet.yaml
// when both are present.
const (
	fleetYAML = "fleet.yaml"
	fleetYML  = "fleet.yml"
)

// IsManifest reports whether a file name looks like a manifest that raw
// rendering reads.
func IsManifest(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return !IsFleetFile(name)
	}
	return false
}

// IsFleetFile reports whether a file name is fleet.yaml or fleet.yml.
func IsFleetFile(name string) bool {
	return name == fleetYAML || name == fleetYML
}

// Discover finds the bundles of one source checkout. root is the checkout
// directory; paths are the source's paths relative to root ("" or "." is the
// root; none means the root).
//
// The rule is Fleet's: every directory under a path that holds a fleet.yaml
// is a bundle, and a bundle directory nested in another is excluded from
// the outer one. If a path holds no fleet.yaml anywhere, each top-level
// directory under it is one bundle, and the manifest files directly in it
// form one more, named after the path.
//
// Each bundle's helm.valuesFiles are read (see ReadValuesFiles). A
// fleet.yaml that does not parse, a values file that cannot be read, or a
// symlink leading out of the checkout, is reported in that bundle's Err;
// discovery goes on. Hidden directories and .git are skipped. Bundles come
// back sorted by Path.
func Discover(root string, paths []string) ([]Bundle, error) {
	c, err := OpenCheckout(root)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var out []Bundle
	seen := make(map[string]bool)
	for _, p := range paths {
		bundles, err := discoverPath(c, p)
		if err != nil {
			return nil, fmt.Errorf("discovering bundles under %q: %w", p, err)
		}
		for _, b := range bundles {
			if !seen[b.Path] {
				seen[b.Path] = true
				b.Chart = hasChart(c, b.Path)
				if b.Err == nil {
					b.Err = readValuesFiles(c, &b)
				}
				out = append(out, b)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// hasChart reports whether a bundle directory is itself a Helm chart,
// which Fleet renders with Helm even without helm options.
func hasChart(c *Checkout, dir string) bool {
	info, err := c.Stat(joinRel(dir, "Chart.yaml"))
	return err == nil && !info.IsDir()
}

// scan is what one walk of a source path finds.
type scan struct {
	fleetDirs map[string]string // bundle dir → name of its fleet file
	topDirs   []string          // directories directly under the path
	loose     bool              // manifests directly in the path
	broken    map[string]error  // entries that cannot be followed
}

func discoverPath(c *Checkout, p string) ([]Bundle, error) {
	rel, err := CleanRel(p)
	if err != nil {
		return nil, err
	}
	s, err := scanPath(c, rel)
	if err != nil {
		return nil, err
	}
	var bundles []Bundle
	if len(s.fleetDirs) > 0 {
		bundles = fleetBundles(c, s)
	} else {
		bundles = plainBundles(rel, s)
	}
	attachBroken(bundles, s.broken)
	return bundles, nil
}

func scanPath(c *Checkout, rel string) (*scan, error) {
	s := &scan{fleetDirs: make(map[string]string), broken: make(map[string]error)}
	if _, err := c.Resolve(rel); err != nil {
		return nil, err
	}
	if f := fleetFileIn(c, rel); f != "" {
		s.fleetDirs[rel] = f
	}
	err := c.Walk(rel, WalkOptions{SkipHidden: true}, func(e Entry) error {
		direct := path.Dir(e.Path) == rel
		switch {
		case e.Err != nil:
			// Kept as a bundle (or in the loose one) so the refusal is seen.
			s.broken[e.Path] = fmt.Errorf("%s: %w", e.Path, e.Err)
			if direct && IsManifest(path.Base(e.Path)) {
				s.loose = true
			} else if direct {
				s.topDirs = append(s.topDirs, e.Path)
			}
		case e.Dir:
			if direct {
				s.topDirs = append(s.topDirs, e.Path)
			}
			if f := e.FleetFile(); f != "" {
				s.fleetDirs[e.Path] = f
			}
		case direct && IsManifest(path.Base(e.Path)):
			s.loose = true
		}
		return nil
	})
	return s, err
}

// fleetFileIn returns the name of the fleet file in a directory, if any;
// one that leads outside the checkout too, so that its bundle reports it.
func fleetFileIn(c *Checkout, dir string) string {
	for _, name := range []string{fleetYAML, fleetYML} {
		if isFleetFile(c, joinRel(dir, name)) {
			return name
		}
	}
	return ""
}

// isFleetFile reports whether rel, named as a fleet file, makes its
// directory a bundle: it is no directory, or it leads outside.
func isFleetFile(c *Checkout, rel string) bool {
	info, err := c.Stat(rel)
	return errors.Is(err, ErrEscape) || err == nil && !info.IsDir()
}

func fleetBundles(c *Checkout, s *scan) []Bundle {
	dirs := make([]string, 0, len(s.fleetDirs))
	for d := range s.fleetDirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	bundles := make([]Bundle, 0, len(dirs))
	for _, d := range dirs {
		b := Bundle{Path: d}
		for _, other := range dirs {
			if other != d && isUnder(other, d) {
				b.Exclude = append(b.Exclude, other)
			}
		}
		b.Options, b.Warnings, b.Err = readFleetFile(c, d, s.fleetDirs[d])
		bundles = append(bundles, b)
	}
	return bundles
}

func readFleetFile(c *Checkout, dir, name string) (Options, []string, error) {
	rel := joinRel(dir, name)
	data, err := c.ReadFile(rel, MaxFileBytes)
	if errors.Is(err, ErrEscape) {
		return Options{}, nil, err
	}
	if err != nil {
		return Options{}, nil, fmt.Errorf("reading %s: %w", rel, err)
	}
	opts, warnings, err := Parse(data)
	for i, w := range warnings {
		warnings[i] = rel + strings.TrimPrefix(w, FleetFile)
	}
	if pe := (*ParseError)(nil); errors.As(err, &pe) {
		pe.File = rel
	}
	return opts, warnings, err
}

func plainBundles(rel string, s *scan) []Bundle {
	var bundles []Bundle
	if s.loose {
		bundles = append(bundles, Bundle{Path: rel, Exclude: s.topDirs})
	}
	for _, d := range s.topDirs {
		bundles = append(bundles, Bundle{Path: d})
	}
	sort.Slice(bundles, func(i, j int) bool { return bundles[i].Path < bundles[j].Path })
	return bundles
}

// attachBroken reports each entry that cannot be followed in the deepest
// bundle that would have rendered it.
func attachBroken(bundles []Bundle, broken map[string]error) {
	paths := make([]string, 0, len(broken))
	for p := range broken {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		best := -1
		for i, b := range bundles {
			if (isUnder(p, b.Path) || p == b.Path) && !excluded(b, p) && (best < 0 || len(b.Path) > len(bundles[best].Path)) {
				best = i
			}
		}
		if best >= 0 && bundles[best].Err == nil {
			bundles[best].Err = broken[p]
		}
	}
}

func excluded(b Bundle, p string) bool {
	for _, x := range b.Exclude {
		if p == x || isUnder(p, x) {
			return true
		}
	}
	return false
}

// isUnder reports whether p is strictly inside dir (both slash-separated,
// relative to the root; "." is the root).
func isUnder(p, dir string) bool {
	if dir == "." {
		return p != "."
	}
	return strings.HasPrefix(p, dir+"/")
}
