#!/bin/sh
# Prints the -ldflags value that makes binaries linking the in-process
# kube-apiserver (module devenv) report Kubernetes v1.37.2. Without it the
# server reports v0.0.0-master+$Format:%H$, which kubectl and discovery
# clients cannot parse. Use it for the dev cluster and for devenv tests:
#
#   go build -ldflags "$(hack/devcluster-ldflags.sh)" ./devenv/cmd/flotilla-devcluster
#   go test  -ldflags "$(hack/devcluster-ldflags.sh)" ./devenv/kubeapiserver/
#
# Keep it in step with the k8s.io/kubernetes version in devenv/go.mod.
# Build date and commit are fixed so repeated builds share the cache.
pkg=k8s.io/component-base/version
printf '%s' "-X $pkg.gitMajor=1 -X $pkg.gitMinor=37 -X $pkg.gitVersion=v1.37.2 -X $pkg.gitTreeState=clean -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.buildDate=1970-01-01T00:00:00Z"
