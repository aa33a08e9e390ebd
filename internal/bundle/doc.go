// Package bundle finds the bundles of a source checkout and parses their
// fleet.yaml files.
//
// The layout rules and the fleet.yaml schema follow Rancher Fleet, so that
// existing Fleet repositories work unchanged. The package only reads the
// checkout: it does no network or Kubernetes I/O.
package bundle
