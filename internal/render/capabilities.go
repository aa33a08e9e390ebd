package render

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"flotilla.io/flotilla/internal/bundle"
)

// capabilitiesScanLimit bounds what ReadsCapabilities reads: past it, the
// answer is yes.
const capabilitiesScanLimit = 64 << 20

// ReadsCapabilities reports whether a bundle's Helm render may read what
// Helm's .Capabilities tell of the cluster (its Kubernetes version and
// API versions, which come from the facts its agent reports). It is a
// conservative text scan: yes when a file of the bundle directory or of a
// local chart it names, or a values file, mentions "Capabilities", when a
// chart comes from a repository, or when a file is an archive.
//
// The hub renders a bundle that reads none with Helm's default
// capabilities (see WithoutCapabilities): a cluster whose facts change
// does not re-render it, and its render cannot depend on any one
// cluster's facts even if a template spells the field in a way the scan
// misses.
func ReadsCapabilities(root string, b bundle.Bundle) bool {
	if b.Err != nil {
		return false // not rendered at all
	}
	helms := []*bundle.HelmOptions{b.Options.Helm}
	for _, tc := range b.Options.Customizations() {
		helms = append(helms, tc.Helm)
	}
	withHelm := b.Chart
	dirs := []string{b.Path}
	for _, h := range helms {
		if h == nil {
			continue
		}
		withHelm = true
		if h.Repo != "" || strings.Contains(h.Chart, "://") || strings.HasPrefix(h.Chart, "oci:") {
			return true
		}
		if h.Chart != "" && !path.IsAbs(h.Chart) {
			dirs = append(dirs, path.Join(b.Path, h.Chart))
		}
		for _, v := range h.Values {
			if mentionsCapabilities(v) {
				return true
			}
		}
	}
	if !withHelm {
		return false // not rendered with Helm
	}
	for _, v := range b.ValuesFiles {
		if mentionsCapabilities(v) {
			return true
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return true
	}
	defer r.Close()
	budget := int64(capabilitiesScanLimit)
	for _, d := range dirs {
		if scanForCapabilities(r.FS(), path.Clean(d), &budget) {
			return true
		}
	}
	return false
}

var capabilitiesWord = []byte("Capabilities")

// scanForCapabilities reports whether a file under dir mentions the word,
// is an archive, or cannot be read (then the answer must be yes).
func scanForCapabilities(fsys fs.FS, dir string, budget *int64) bool {
	found := false
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll // a chart path that does not exist fails the render
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".tgz") || strings.HasSuffix(name, ".tar.gz") {
			found = true
			return fs.SkipAll
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, *budget+1))
		if err != nil {
			return err
		}
		*budget -= int64(len(data))
		if *budget < 0 || bytes.Contains(data, capabilitiesWord) {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found || err != nil
}

// mentionsCapabilities looks for the word in values, which `tpl` may
// render as templates.
func mentionsCapabilities(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "Capabilities")
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, "Capabilities") || mentionsCapabilities(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if mentionsCapabilities(e) {
				return true
			}
		}
	}
	return false
}

// WithoutCapabilities drops the cluster facts Helm's .Capabilities would
// show, for a bundle that ReadsCapabilities says does not read them: it
// then renders with Helm's defaults and shares its render key across
// clusters whatever their facts.
func (e *Effective) WithoutCapabilities() {
	e.KubeVersion, e.APIVersions = "", nil
}
