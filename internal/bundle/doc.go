// Package bundle finds the bundles of a source checkout and parses their
// fleet.yaml files.
//
// The layout rules and the fleet.yaml schema follow Rancher Fleet, so that
// existing Fleet repositories work unchanged. The package only reads the
// checkout: it does no network or Kubernetes I/O. Every read goes through
// a Checkout, an os.Root on the checkout's directory, which render uses
// too: no path or symlink in a repository reaches a file outside it.
package bundle
