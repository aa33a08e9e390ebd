#!/bin/sh
# Bytes per agent update between two consecutive builds, and the time to
# make and apply the delta.
#
#   hack/bench-update.sh [OLD_REV [NEW_REV]]     (default HEAD~1 and HEAD)
#   GOARCH=arm64 hack/bench-update.sh            (the edge boxes' arch)
#
# Builds the slim agent at both commits as `make build` does (stripped,
# -trimpath, version from git describe), then runs hack/agent-delta: the
# whole new build gzip -9 (what an agent gets when the hub lacks the build
# it runs) against the bindelta patch the hub serves otherwise.
set -eu
old=${1:-HEAD~1}
new=${2:-HEAD}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build() { # rev out
	mkdir -p "$tmp/src-$2"
	git -C "$root" archive "$1" | tar -x -C "$tmp/src-$2"
	v=$(git -C "$root" describe --tags --always "$1")
	(cd "$tmp/src-$2" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$v" -o "$tmp/$2" ./cmd/flotilla-agent)
	echo "$2: $1 = $v ($(git -C "$root" log -1 --format=%s "$1"))"
}
build "$old" old
build "$new" new
echo "GOARCH=${GOARCH:-$(go env GOARCH)}"
# The tool runs here, whatever GOARCH the builds are for.
cd "$root" && env -u GOARCH GOWORK=off go run ./hack/agent-delta "$tmp/old" "$tmp/new"
