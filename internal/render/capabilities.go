package render

import (
	"bytes"
	"errors"
	"io/fs"
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
	c, err := bundle.OpenCheckout(root)
	if err != nil {
		return true
	}
	defer c.Close()
	budget := int64(capabilitiesScanLimit)
	for _, d := range dirs {
		if scanForCapabilities(c, path.Clean(d), &budget) {
			return true
		}
	}
	return false
}

var capabilitiesWord = []byte("Capabilities")

// errCapabilities stops a scan that has its answer: yes.
var errCapabilities = errors.New("may read capabilities")

// scanForCapabilities reports whether a file under dir (or dir itself, if
// it is a file) mentions the word, is an archive, or cannot be read (then
// the answer must be yes). budget is what may still be read.
func scanForCapabilities(c *bundle.Checkout, dir string, budget *int64) bool {
	info, err := c.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false // a chart path that does not exist fails the render
	case err != nil:
		return true
	case !info.IsDir():
		return scanFile(dir, func() (*bundle.File, error) { return c.Open(dir) }, budget) != nil
	}
	err = c.Walk(dir, bundle.WalkOptions{}, func(e bundle.Entry) error {
		if e.Err != nil {
			return e.Err
		}
		if e.Dir {
			return nil
		}
		return scanFile(e.Path, e.Open, budget)
	})
	return err != nil
}

// scanFile returns errCapabilities if the file rel is an archive or
// mentions the word, and an error if it cannot be read within budget.
func scanFile(rel string, open func() (*bundle.File, error), budget *int64) error {
	if strings.HasSuffix(rel, ".tgz") || strings.HasSuffix(rel, ".tar.gz") {
		return errCapabilities
	}
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := f.ReadAll(*budget)
	if err != nil {
		return err // past the budget too
	}
	*budget -= int64(len(data))
	if bytes.Contains(data, capabilitiesWord) {
		return errCapabilities
	}
	return nil
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
