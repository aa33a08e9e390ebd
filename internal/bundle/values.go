package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxFileBytes bounds one file read from a checkout; larger ones are
// refused rather than read into memory.
const MaxFileBytes = 32 << 20

// ReadValuesFiles reads every helm.valuesFiles entry of b's fleet.yaml,
// the bundle's own and its target customizations', into b.ValuesFiles, as
// `fleet apply` reads them into the Bundle it creates: once, so that
// resolving the bundle per cluster reads no files. Names are relative to
// the bundle directory; a file outside the checkout (by `../`, an absolute
// path or a symlink), a missing one, or one that is not a YAML map is an
// error naming the file. Discover calls it; callers that build a Bundle
// themselves call it before resolving.
func ReadValuesFiles(root string, b *Bundle) error {
	c, err := OpenCheckout(root)
	if err != nil {
		return err
	}
	defer c.Close()
	return readValuesFiles(c, b)
}

func readValuesFiles(c *Checkout, b *Bundle) error {
	type ref struct{ key, name string }
	var refs []ref
	add := func(prefix string, h *HelmOptions) {
		if h == nil {
			return
		}
		for i, f := range h.ValuesFiles {
			refs = append(refs, ref{fmt.Sprintf("%shelm.valuesFiles[%d]", prefix, i), f})
		}
	}
	add("", b.Options.Helm)
	for i, tc := range b.Options.Targets {
		add(fmt.Sprintf("targets[%d].", i), tc.Helm)
	}
	for i, tc := range b.Options.TargetCustomizations {
		add(fmt.Sprintf("targetCustomizations[%d].", i), tc.Helm)
	}
	if len(refs) == 0 {
		return nil
	}
	files := make(map[string]map[string]any, len(refs))
	for _, r := range refs {
		if _, ok := files[r.name]; ok {
			continue
		}
		v, err := readValuesFile(c, b.Path, r.key, r.name)
		if err != nil {
			return err
		}
		files[r.name] = v
	}
	b.ValuesFiles = files
	return nil
}

// readValuesFile reads one values file named in fleet.yaml at key.
func readValuesFile(c *Checkout, dir, key, name string) (map[string]any, error) {
	fleetFile := joinRel(dir, FleetFile)
	fail := func(format string, args ...any) error {
		return &ParseError{File: fleetFile, Path: key, Msg: fmt.Sprintf(format, args...)}
	}
	if path.IsAbs(name) {
		return nil, fail("%q must be relative to the bundle directory", name)
	}
	rel, err := CleanRel(path.Join(dir, name))
	if err != nil {
		return nil, fail("%q leads outside the checkout", name)
	}
	info, err := c.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail("%q does not exist", name)
	case err != nil:
		return nil, fail("%q: %v", name, err)
	case info.IsDir():
		return nil, fail("%q is a directory", name)
	}
	data, err := c.ReadFile(rel, MaxFileBytes)
	if tooLarge := (*FileTooLargeError)(nil); errors.As(err, &tooLarge) {
		return nil, &ParseError{File: rel, Msg: tooLarge.Error()}
	}
	if err != nil {
		return nil, fail("%q: %v", name, err)
	}
	// Decoded as Helm decodes values files (numbers as float64), so a
	// chart sees the same values from Flotilla as from `helm template`.
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "yaml: "); i >= 0 {
			msg = msg[i:]
		}
		pe := syntaxError(errors.New(msg)).(*ParseError)
		pe.File = rel
		return nil, pe
	}
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, &ParseError{File: rel, Msg: "values must be a map"}
	}
	return m, nil
}
