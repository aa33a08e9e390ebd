// Package kubeapply applies one bundle's objects to a Kubernetes cluster the
// way the agent needs: server-side apply with a fixed field manager, ordered
// (Namespaces, then CustomResourceDefinitions once Established, then
// everything else in bounded parallel), an ApplySet inventory (KEP-3659) to
// prune what left the bundle, and kstatus health of what is there now. A
// bundle's release namespace, which several bundles may share, is applied
// outside its set under a field manager of the bundle's own.
//
// It talks to the cluster through the dynamic and metadata clients and a
// RESTMapper that discovers only the group versions its objects name, with
// plain JSON requests: no typed clientsets or scheme, no informers, no
// caches of whole kinds or of the whole discovery, so an agent on a small
// edge box stays small.
package kubeapply
