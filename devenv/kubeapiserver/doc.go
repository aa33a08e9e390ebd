// Package kubeapiserver runs a real kube-apiserver with an embedded etcd
// inside the current process, for integration tests and the dev cluster.
//
// It links k8s.io/kubernetes, which is why it lives in the nested devenv
// module and never in the product module. Several servers may run side by
// side in one process, each with its own data directory; feature gates,
// /metrics and klog stay process-wide (see routeKlog).
//
// Binaries that link it should be built with the version ldflags from
// hack/devcluster-ldflags.sh, or discovery reports an unparseable version.
package kubeapiserver
