package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// overlayDir holds yaml.overlays, relative to the bundle directory. Fleet
// never deploys what is under it as a base manifest.
const overlayDir = "overlays/"

// maxPatchedBytes bounds the result of one overlay patch.
const maxPatchedBytes = 32 << 20

// rawFile is a manifest file of a raw bundle.
type rawFile struct {
	data   []byte
	origin string // root-relative path named in errors
}

// applyOverlays applies the named overlays in order to the files of a
// raw bundle, keyed by their path relative to the bundle directory, as
// Fleet does: a file in overlays/<name>/ replaces (or adds) the file of
// the same relative path; a file <x>_patch.<ext> patches <x>.<ext> with a
// JSON patch (a list), a strategic-merge patch (a built-in kind) or a JSON
// merge patch (anything else). Files under overlays/ are then dropped.
func applyOverlays(files map[string]rawFile, overlays []string) (map[string]rawFile, error) {
	out := make(map[string]rawFile, len(files))
	for name, f := range files {
		if !strings.HasPrefix(name, overlayDir) {
			out[name] = f
		}
	}
	for _, o := range overlays {
		if o == "" || strings.Contains(o, "/") || o == "." || o == ".." {
			return nil, fmt.Errorf("yaml.overlays: invalid overlay name %q", o)
		}
		prefix := overlayDir + o + "/"
		var names []string
		for name := range files {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		// Replacements first, then patches, each in name order, so the
		// result never depends on map order.
		sort.Slice(names, func(i, j int) bool {
			pi, pj := isPatch(names[i]), isPatch(names[j])
			if pi != pj {
				return !pi
			}
			return names[i] < names[j]
		})
		for _, name := range names {
			f := files[name]
			rel := strings.TrimPrefix(name, prefix)
			target, patch := patchTarget(rel)
			if !patch {
				out[rel] = f
				continue
			}
			base, ok := out[target]
			if !ok {
				return nil, &Error{File: f.origin, Err: fmt.Errorf("no base file %s to patch", target)}
			}
			data, err := patchFile(base.data, f.data)
			if err != nil {
				return nil, &Error{File: f.origin, Err: fmt.Errorf("patching %s: %w", target, err)}
			}
			out[target] = rawFile{data: data, origin: base.origin}
		}
	}
	return out, nil
}

func isPatch(name string) bool {
	_, ok := patchTarget(name)
	return ok
}

// patchTarget maps "dir/x_patch.yaml" to "dir/x.yaml".
func patchTarget(name string) (string, bool) {
	dir, base := path.Split(name)
	if !strings.Contains(base, "_patch.") {
		return "", false
	}
	return dir + strings.Replace(base, "_patch.", ".", 1), true
}

// patchFile applies a patch document to a single-document manifest and
// returns the result as JSON.
func patchFile(base, patch []byte) ([]byte, error) {
	orig, err := singleJSON(base)
	if err != nil {
		return nil, fmt.Errorf("reading the base file: %w", err)
	}
	p, err := singleJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("reading the patch: %w", err)
	}
	var out []byte
	switch {
	case bytes.HasPrefix(p, []byte("[")):
		ops, err := jsonpatch.DecodePatch(p)
		if err != nil {
			return nil, err
		}
		out, err = ops.Apply(orig)
		if err != nil {
			return nil, err
		}
	default:
		if typed := builtinType(orig); typed != nil {
			out, err = strategicpatch.StrategicMergePatch(orig, p, typed)
		} else {
			out, err = jsonpatch.MergePatch(orig, p)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(out) > maxPatchedBytes {
		return nil, fmt.Errorf("patched file exceeds %d bytes", maxPatchedBytes)
	}
	return out, nil
}

// singleJSON converts a YAML or JSON file holding one document to JSON.
func singleJSON(data []byte) ([]byte, error) {
	docs := 0
	var content []byte
	for _, d := range splitDocuments(data) {
		if len(bytes.TrimSpace(stripComments(d.data))) == 0 {
			continue
		}
		docs++
		content = d.data
	}
	if docs != 1 {
		return nil, fmt.Errorf("holds %d YAML documents; overlay patches need exactly one", docs)
	}
	js, err := yaml.YAMLToJSONStrict(content)
	if err != nil {
		_, msg := yamlErrorLine(err)
		return nil, errors.New(msg)
	}
	if !bytes.HasPrefix(js, []byte("{")) && !bytes.HasPrefix(js, []byte("[")) {
		return nil, errors.New("not an object or a list")
	}
	return js, nil
}

func stripComments(data []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if hasContent(l) {
			out = append(out, l...)
		}
	}
	return out
}

// builtinType returns an empty typed object for a built-in kind, whose
// struct tags drive strategic merge; nil for anything else.
func builtinType(obj []byte) any {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(obj, &tm); err != nil || tm.Kind == "" {
		return nil
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return nil
	}
	o, err := scheme.Scheme.New(gv.WithKind(tm.Kind))
	if err != nil {
		return nil
	}
	return o
}
