#!/bin/sh
# Compare `flotilla render` with Rancher Fleet v0.12.0 on Flotilla's own
# Fleet-layout test repository (internal/render/testdata/targets/fleet-layout),
# for each cluster of its targets.yaml, bundle by bundle. See
# docs/fleet-compatibility.md.
#
#   sh hack/fleet-compare/run.sh [-v]
#
# 1. builds Fleet's CLI (`fleet`, for `fleet test`) and fleetsim (Fleet's
#    controller-side matching and values pre-processing, see fleetsim/) from
#    the Go module proxy into $FLEET_CACHE (default
#    $HOME/.cache/flotilla/fleet-v0.12.0), once: ~4 minutes on a cold Go cache;
# 2. builds flotilla and the comparison program (compare/) from this checkout;
# 3. runs compare/, which prints a per-bundle report and fails only on
#    differences that known-differences.yaml does not list.
#
# Outputs (bundles, both sides' YAML per bundle and cluster, report.txt) go to
# $FLEET_COMPARE_OUT, default a new directory under $TMPDIR. Needs network
# access to the Go module proxy for the first build only.
set -eu

start=$(date +%s)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FLEET_VERSION=v0.12.0
CACHE=${FLEET_CACHE:-$HOME/.cache/flotilla/fleet-$FLEET_VERSION}
OUT=${FLEET_COMPARE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/fleet-compare.XXXXXX")}
CASE=$ROOT/internal/render/testdata/targets/fleet-layout

say() { printf '==> %s\n' "$*" >&2; }

# moddir MODULE@VERSION: download it and print its directory in the module cache.
moddir() {
	json=$(cd "$CACHE" && GOWORK=off go mod download -json "$1")
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		printf '%s\n' "$json" >&2
		echo "go mod download $1: no module directory" >&2
		return 1
	fi
	printf '%s\n' "$dir"
}

# Fleet's CLI, built as its own module: the root module's go.mod replaces
# github.com/rancher/fleet/pkg/apis with ./pkg/apis, a nested module that is
# not in the root module's zip, so it is downloaded separately and copied in.
build_fleet() {
	mkdir -p "$CACHE/bin"
	if [ -x "$CACHE/bin/fleet" ] && [ -d "$CACHE/src" ]; then
		say "Fleet $FLEET_VERSION CLI: $CACHE/bin/fleet (cached)"
		return
	fi
	say "building Fleet $FLEET_VERSION CLI into $CACHE (about 4 minutes on a cold Go cache)"
	root=$(moddir "github.com/rancher/fleet@$FLEET_VERSION")
	apis=$(moddir "github.com/rancher/fleet/pkg/apis@$FLEET_VERSION")
	rm -rf "$CACHE/src" "$CACHE/bin/fleet" "$CACHE/bin/fleetsim"
	cp -R "$root" "$CACHE/src"
	chmod -R u+w "$CACHE/src"
	rm -rf "$CACHE/src/pkg/apis"
	cp -R "$apis" "$CACHE/src/pkg/apis"
	chmod -R u+w "$CACHE/src/pkg/apis"
	(cd "$CACHE/src" && GOWORK=off go build -o "$CACHE/bin/fleet.tmp" ./cmd/fleetcli)
	mv "$CACHE/bin/fleet.tmp" "$CACHE/bin/fleet"
}

# fleetsim needs Fleet's internal packages: its files are copied into the
# Fleet module copy and built there with -tags fleetsim. Rebuilt when they change.
build_fleetsim() {
	main=$CACHE/src/cmd/flotilla-fleetsim/main.go
	export_go=$CACHE/src/internal/cmd/controller/target/zz_flotilla_sim_export.go
	if [ -x "$CACHE/bin/fleetsim" ] &&
		cmp -s "$HERE/fleetsim/main.go" "$main" &&
		cmp -s "$HERE/fleetsim/target/zz_flotilla_sim_export.go" "$export_go"; then
		say "fleetsim: $CACHE/bin/fleetsim (cached)"
		return
	fi
	say "building fleetsim in $CACHE/src"
	mkdir -p "$(dirname "$main")"
	cp "$HERE/fleetsim/main.go" "$main"
	cp "$HERE/fleetsim/target/zz_flotilla_sim_export.go" "$export_go"
	(cd "$CACHE/src" && GOWORK=off go build -tags fleetsim -o "$CACHE/bin/fleetsim.tmp" ./cmd/flotilla-fleetsim)
	mv "$CACHE/bin/fleetsim.tmp" "$CACHE/bin/fleetsim"
}

build_fleet
build_fleetsim
mkdir -p "$OUT/bin"
say "building flotilla and the comparison program from $ROOT"
(cd "$ROOT" && GOWORK=off go build -o "$OUT/bin/flotilla" ./cmd/flotilla)
(cd "$ROOT" && GOWORK=off go build -o "$OUT/bin/fleet-compare" ./hack/fleet-compare/compare)
built=$(date +%s)

say "comparing on $CASE (outputs in $OUT)"
rc=0
"$OUT/bin/fleet-compare" \
	-fleet "$CACHE/bin/fleet" \
	-fleetsim "$CACHE/bin/fleetsim" \
	-flotilla "$OUT/bin/flotilla" \
	-repo "$CASE/repo" \
	-targets "$CASE/targets.yaml" \
	-known "$HERE/known-differences.yaml" \
	-out "$OUT" "$@" || rc=$?
end=$(date +%s)
say "builds $((built - start))s, comparison $((end - built))s; report: $OUT/report.txt; exit $rc"
exit "$rc"
