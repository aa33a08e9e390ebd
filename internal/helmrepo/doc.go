// Package helmrepo fetches chart archives from HTTP(S) Helm chart
// repositories (index.yaml + .tgz) and keeps them in a cache keyed by the
// archive's SHA-256 digest, so an unchanged chart version is downloaded
// once.
package helmrepo
