// Package render turns one bundle of a checkout into the Kubernetes objects
// it deploys: raw YAML/JSON manifests or an in-process Kustomize build, then
// the bundle's namespace options, in a stable order.
//
// It is pure: it reads the checkout and nothing else (no network, no API
// server), and refuses anything that would reach outside the checkout.
package render
