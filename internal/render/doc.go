// Package render turns one bundle of a checkout into the Kubernetes objects
// it deploys for a cluster: Resolve picks the bundle's target customization
// for the cluster (cheap, no I/O) and RenderEffective renders raw YAML/JSON
// manifests with yaml.overlays, an in-process Kustomize build, or a Helm
// chart (optionally post-rendered by Kustomize), then applies the bundle's
// namespace options, in a stable order.
//
// It reads the checkout and nothing else, refusing anything that would
// reach outside it; the only network access is fetching remote Helm charts
// (through helmrepo, cached by digest, under Options.Egress: public
// addresses only unless allowed, bounded in time and size) and, when
// explicitly allowed, remote Kustomize resources. It never contacts a
// cluster, and ${ } value templates, which run inside the render (not in
// Resolve), cannot read the hub's network, environment, clock or
// randomness.
package render
