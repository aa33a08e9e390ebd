#!/usr/bin/env bash
# A local fleet on embedded defaults: three dev clusters (env=dev|test|prod),
# a hub on SQLite, a Git repository seeded from examples/, and one agent per
# cluster. It prints the fleet converging, then keeps running so you can
# commit to the demo repository and watch the change arrive. Ctrl-C stops
# everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=${DEMO_DIR:-$ROOT/.demo}
BIN=$ROOT/bin
ENVS=(dev test prod)
PIDS=()

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
	trap - EXIT INT TERM
	say "stopping the demo"
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	echo "stopped; logs and state are in $DEMO"
}
trap cleanup EXIT INT TERM

# poll CMD... until it succeeds, or give up after $TIMEOUT seconds.
poll() {
	local deadline=$((SECONDS + ${TIMEOUT:-120}))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then echo "timed out waiting for: $*" >&2; return 1; fi
		sleep 0.5
	done
}

rm -rf "$DEMO"
mkdir -p "$DEMO/logs"

say "starting three dev clusters (in-process etcd + kube-apiserver each)"
for env in "${ENVS[@]}"; do
	"$BIN/flotilla-devcluster" --dir "$DEMO/cluster-$env" >"$DEMO/logs/cluster-$env.log" 2>&1 &
	PIDS+=($!)
done

say "starting the hub (SQLite in $DEMO/hub)"
"$BIN/flotilla" hub --data-dir "$DEMO/hub" --listen 127.0.0.1:0 --long-poll 30s >"$DEMO/logs/hub.log" 2>&1 &
PIDS+=($!)
export FLOTILLA_CONFIG=$DEMO/hub/admin.yaml
poll "$BIN/flotilla" clusters list
echo "hub is up; operator config: $FLOTILLA_CONFIG"

say "seeding a Git repository from examples/"
git init -q --bare -b main "$DEMO/fleet.git"
git clone -q "$DEMO/fleet.git" "$DEMO/work" 2>/dev/null
cp -r examples/. "$DEMO/work/"
git -C "$DEMO/work" add -A
git -C "$DEMO/work" -c user.name=demo -c user.email=demo@flotilla.local commit -qm "Seed the fleet from examples/"
git -C "$DEMO/work" push -q origin main
REPO=file://$DEMO/fleet.git

say "adding sources: one shared bundle for every env, one overlay per env"
"$BIN/flotilla" source add common --repo "$REPO" --path hello --target 'env in (dev,test,prod)' --poll 5s
for env in "${ENVS[@]}"; do
	"$BIN/flotilla" source add "web-$env" --repo "$REPO" --path "web/overlays/$env" --target "env=$env" --poll 5s
done
"$BIN/flotilla" source list

say "enrolling one agent per cluster with a single-use token"
for env in "${ENVS[@]}"; do
	poll test -f "$DEMO/cluster-$env/kubeconfig"
	token=$("$BIN/flotilla" token create --label "env=$env" --max-uses 1 --ttl 10m)
	"$BIN/flotilla" agent --token "$token" --name "$env" --kubeconfig "$DEMO/cluster-$env/kubeconfig" \
		--state-dir "$DEMO/agent-$env" >"$DEMO/logs/agent-$env.log" 2>&1 &
	PIDS+=($!)
done

# converged: three clusters, all Ready with applied == desired generation.
converged() {
	"$BIN/flotilla" clusters list | awk 'NR > 1 { n++; if ($2 != "Ready" || $5 != $6 || $5 == 0) bad = 1 } END { exit (bad || n != 3) }'
}

say "watching the fleet converge"
deadline=$((SECONDS + 180))
until converged; do
	if ((SECONDS > deadline)); then echo "the fleet did not converge; see $DEMO/logs" >&2; exit 1; fi
	"$BIN/flotilla" clusters list | sed 's/^/  /'
	echo
	sleep 2
done
"$BIN/flotilla" clusters list
echo
"$BIN/flotilla" bundles list

cat <<MSG

The fleet has converged. Everything keeps running until you press Ctrl-C.

Try a change:
  export FLOTILLA_CONFIG=$FLOTILLA_CONFIG
  cd $DEMO/work
  sed -i 's/greeting: .*/greeting: hello from git/' web/overlays/dev/config.yaml
  git commit -qam "Change the dev greeting" && git push -q origin main
  $BIN/flotilla clusters list          # dev's generation moves on within ~5 s
  kubectl --kubeconfig $DEMO/cluster-dev/kubeconfig -n web get configmap web-config -o yaml

Logs: $DEMO/logs/
MSG

# Until Ctrl-C (or a component stops: its log says why).
wait -n "${PIDS[@]}" || true
