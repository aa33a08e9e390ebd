package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
)

// Bundle is one directory of a checkout that deploys as a unit.
type Bundle struct {
	// Path is the slash-separated directory relative to the checkout root,
	// e.g. "apps/web"; "." for the root itself.
	Path string
	// Options is the parsed fleet.yaml; zero when there is none.
	Options Options
	// Exclude lists directories under Path (relative to the root) that
	// belong to other bundles; rendering skips them.
	Exclude []string
	// Chart is true when the directory holds a Chart.yaml: Fleet renders
	// it with Helm even when fleet.yaml has no helm options.
	Chart bool
	// ValuesFiles holds the content of every helm.valuesFiles entry of
	// fleet.yaml (the bundle's and its target customizations'), by the
	// name fleet.yaml gives, read once by Discover (see ReadValuesFiles).
	// Nil when there are none. Shared by every resolve: never modified.
	ValuesFiles map[string]map[string]any
	// Warnings are about the fleet.yaml: unknown keys, ignored content.
	Warnings []string
	// Err is set when the bundle cannot be used: its fleet.yaml does not
	// parse, a symlink in it leads outside the checkout, or a values file
	// it names cannot be read.
	Err error
}

// maxNameLen is the longest bundle name: a Kubernetes label value.
const maxNameLen = 63

// Name returns Fleet's bundle name for a source and a bundle path:
// "<source>-<path with / as ->", lowercased, with every character outside
// [a-z0-9-] replaced by '-', and '-' trimmed from both ends. A name longer
// than 63 characters is cut and given a hash suffix so it stays unique.
func Name(source, dir string) string {
	dir = strings.Trim(path.Clean(strings.ReplaceAll(dir, "\\", "/")), "/")
	s := source
	if dir != "." && dir != "" {
		s += "-" + dir
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), "-")
	if name == "" {
		return "bundle"
	}
	if len(name) <= maxNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	const suffix = 6 // "-" and five hex digits, as Fleet does
	return strings.TrimRight(name[:maxNameLen-suffix], "-") + "-" + hex.EncodeToString(sum[:])[:suffix-1]
}
