// Package kubeapplytest runs internal/kubeapply against a real, in-process
// kube-apiserver (devenv/kubeapiserver). It has no code of its own, only
// tests; the API server makes it heavy, so it lives in the devenv module.
package kubeapplytest
