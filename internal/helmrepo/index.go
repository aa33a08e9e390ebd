package helmrepo

import (
	"errors"
	"fmt"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
)

// index is the part of a repository's index.yaml a fetch reads. Only
// these fields are decoded: a repository's other metadata (and Helm's
// stricter types for it, such as timestamps) cannot fail a fetch.
type index struct {
	APIVersion string              `json:"apiVersion"`
	Entries    map[string][]*entry `json:"entries"`
}

// entry is one version of a chart in an index.
type entry struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
}

// parseIndex decodes an index as Helm's loader reads it (YAML or JSON,
// apiVersion required), dropping entries without a version or a URL as
// Helm skips invalid ones.
func parseIndex(data []byte) (*index, error) {
	if len(data) == 0 {
		return nil, errors.New("index.yaml is empty")
	}
	var idx index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, err
	}
	if idx.APIVersion == "" {
		return nil, errors.New("index.yaml has no apiVersion")
	}
	for name, versions := range idx.Entries {
		kept := versions[:0]
		for _, e := range versions {
			if e != nil && e.Version != "" && len(e.URLs) > 0 {
				kept = append(kept, e)
			}
		}
		idx.Entries[name] = kept
	}
	return &idx, nil
}

// pick chooses a chart version as Helm's IndexFile.Get does: a version
// string equal to the one asked for, else the highest version that
// satisfies it as a semver constraint (empty: the highest stable
// version). Among equal versions the first in the index wins, whatever
// its order.
func pick(idx *index, name, version string) (*entry, error) {
	versions := idx.Entries[name]
	if len(versions) == 0 {
		return nil, fmt.Errorf("the index has no chart %q", name)
	}
	constraint := version
	if constraint == "" {
		constraint = "*"
	} else {
		for _, e := range versions {
			if e.Version == version {
				return e, nil
			}
		}
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, fmt.Errorf("helm.version %q is neither a version nor a semver range: %w", version, err)
	}
	var best *entry
	var bestV *semver.Version
	for _, e := range versions {
		v, err := semver.NewVersion(e.Version)
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(bestV) {
			best, bestV = e, v
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no version of chart %q matches %q", name, constraint)
	}
	return best, nil
}
