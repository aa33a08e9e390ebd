#!/usr/bin/env bash
# Measures the agent's budgets (docs/benchmarks.md, section "Agent") in one
# run, side by side with kubectl: 500 objects of 10 kinds applied to a real
# API server (bin/flotilla-devcluster) by bin/flotilla-agent through a hub,
# and the same objects (other namespaces) by `kubectl apply --server-side`,
# with and without client-side validation. Prints a table. Needs `make build`
# and kubectl. BENCH_DIR keeps the work directory; IDLE sets the idle window
# in seconds for the write and steady-RSS figures (default 60); AGENT runs
# another agent binary (an older build, to compare side by side) instead of
# bin/flotilla-agent (the arm64 size is always that of the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
W=${BENCH_DIR:-$(mktemp -d /tmp/flotilla-bench.XXXXXX)}
IDLE=${IDLE:-60}
AGENT_BIN=${AGENT:-$BIN/flotilla-agent}
PER_KIND=10 # objects per kind per namespace; 5 namespaces x 10 kinds x 10 = 500
PIDS=()

cleanup() {
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

poll() {
	local deadline=$((SECONDS + ${TIMEOUT:-180}))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then echo "timed out waiting for: $*" >&2; return 1; fi
		sleep 0.2
	done
}

# objects PREFIX DIR writes the 500 objects into DIR, in namespaces PREFIX-0..4.
objects() {
	local p=$1 dir=$2
	mkdir -p "$dir"
	for ns in 0 1 2 3 4; do
		local n=$p-$ns f=$dir/ns$ns.yaml
		: >"$f"
		for i in $(seq 1 $PER_KIND); do
			cat >>"$f" <<YAML
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-$i, namespace: $n}
data: {a: "$(printf 'x%.0s' $(seq 1 200))", b: "value $i"}
---
apiVersion: v1
kind: Secret
metadata: {name: secret-$i, namespace: $n}
stringData: {password: "s3cret-$i"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa-$i, namespace: $n}
---
apiVersion: v1
kind: Service
metadata: {name: svc-$i, namespace: $n}
spec: {selector: {app: app-$i}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: role-$i, namespace: $n}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb-$i, namespace: $n}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-$i}
subjects: [{kind: ServiceAccount, name: sa-$i, namespace: $n}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-$i, namespace: $n}
spec:
  replicas: 1
  selector: {matchLabels: {app: app-$i}}
  template:
    metadata: {labels: {app: app-$i}}
    spec: {containers: [{name: app, image: "registry.local/app:1.$i", resources: {limits: {memory: 64Mi}}}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pvc-$i, namespace: $n}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: lr-$i, namespace: $n}
spec: {limits: [{type: Container, default: {memory: 128Mi}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np-$i, namespace: $n}
spec: {podSelector: {matchLabels: {app: app-$i}}, policyTypes: [Ingress]}
YAML
		done
	done
}

ms_of() { date -d "$1" +%s%3N; }
# logtime MSG: the time= of the first agent log line with msg=MSG (or "MSG").
logtime() { grep -m1 -E "msg=(\"$1\"|$1 )" "$W/agent.log" | sed -E 's/^time=([^ ]+).*/\1/'; }
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

echo "work directory: $W"
mkdir -p "$W"
"$BIN/flotilla-devcluster" --dir "$W/cluster" >"$W/cluster.log" 2>&1 &
PIDS+=($!)
"$BIN/flotilla" hub --data-dir "$W/hub" --listen 127.0.0.1:0 --long-poll 30s >"$W/hub.log" 2>&1 &
PIDS+=($!)
export FLOTILLA_CONFIG=$W/hub/admin.yaml
poll "$BIN/flotilla" clusters list
poll test -f "$W/cluster/kubeconfig"
K=(kubectl --kubeconfig "$W/cluster/kubeconfig")
poll "${K[@]}" get --raw /readyz

for p in agent kubectl kubectl-novalidate; do
	for ns in 0 1 2 3 4; do "${K[@]}" create namespace "$p-$ns" >/dev/null; done
done
git init -q --bare -b main "$W/fleet.git"
git clone -q "$W/fleet.git" "$W/work" 2>/dev/null
objects agent "$W/work/bench"
git -C "$W/work" add -A
git -C "$W/work" -c user.name=bench -c user.email=bench@flotilla.local commit -qm "500 objects"
git -C "$W/work" push -q origin main
objects kubectl "$W/kubectl"
objects kubectl-novalidate "$W/kubectl-novalidate"

"$BIN/flotilla" source add bench --repo "file://$W/fleet.git" --target env=bench --poll 1m >/dev/null
poll sh -c "'$BIN/flotilla' bundles list | grep -q bench"
token=$("$BIN/flotilla" token create --label env=bench --max-uses 1 --ttl 10m)

start=$(date +%s%3N)
"$AGENT_BIN" --token "$token" --name bench --kubeconfig "$W/cluster/kubeconfig" \
	--state-dir "$W/agent-state" >"$W/agent.log" 2>&1 &
AGENT=$!
PIDS+=($AGENT)
poll grep -q 'msg=applied ' "$W/agent.log"
accepted=$(ms_of "$(logtime 'manifest accepted')")
applied_set=$(ms_of "$(logtime 'applied set')")
applied=$(ms_of "$(logtime applied)")
peak=$(kb $AGENT VmHWM)
count=$("${K[@]}" get cm,secret,sa,svc,role,rolebinding,deploy,pvc,limitrange,networkpolicy -A -l applyset.kubernetes.io/part-of --no-headers | wc -l)

TIMEFMT='%e %M'
kt=$( { /usr/bin/time -f "$TIMEFMT" "${K[@]}" apply --server-side -f "$W/kubectl" >/dev/null; } 2>&1 | tail -1)
kn=$( { /usr/bin/time -f "$TIMEFMT" "${K[@]}" apply --server-side --validate=false -f "$W/kubectl-novalidate" >/dev/null; } 2>&1 | tail -1)

# Idle and connected: let the first status go out, then watch writes.
sleep 5
io0=$(awk '$1 == "write_bytes:" { print $2 }' /proc/$AGENT/io)
# Sample RSS every second of the window: the health resync every 30 s
# allocates and the runtime hands pages back later, so one reading at the
# end depends on where it falls.
rss_min='' rss_max=0
for ((i = 0; i < IDLE; i++)); do
	sleep 1
	r=$(kb $AGENT VmRSS)
	((r > rss_max)) && rss_max=$r
	[[ -z $rss_min ]] || ((r < rss_min)) && rss_min=$r
done
io1=$(awk '$1 == "write_bytes:" { print $2 }' /proc/$AGENT/io)
steady=$(kb $AGENT VmRSS)
anon=$(kb $AGENT RssAnon)
file=$(kb $AGENT RssFile)
peak=$(kb $AGENT VmHWM)

GOWORK=off CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags '-s -w' -o "$W/flotilla-agent-arm64" ./cmd/flotilla-agent
arm=$(stat -c %s "$W/flotilla-agent-arm64")
amd=$(stat -c %s "$AGENT_BIN")

printf '\n| what | figure |\n|---|---|\n'
printf '| objects applied by the agent (found by its ApplySet label) | %s |\n' "$count"
printf '| agent: start → manifest and 500 objects fetched, verified, kept | %.2f s |\n' "$(echo "($accepted - $start)/1000" | bc -l)"
printf '| agent: first full apply (server-side apply, 8 workers) | %.2f s |\n' "$(echo "($applied_set - $accepted)/1000" | bc -l)"
printf '| agent: first full apply + health of all 500 | %.2f s |\n' "$(echo "($applied - $accepted)/1000" | bc -l)"
printf '| kubectl apply --server-side (default validation): wall, peak RSS | %s s, %.1f MB |\n' "${kt% *}" "$(echo "${kt#* }/1024" | bc -l)"
printf '| kubectl apply --server-side --validate=false: wall, peak RSS | %s s, %.1f MB |\n' "${kn% *}" "$(echo "${kn#* }/1024" | bc -l)"
printf '| agent RSS peak (VmHWM, whole run) | %.1f MB |\n' "$(echo "$peak/1024" | bc -l)"
printf '| agent RSS steady (VmRSS after %s s idle) | %.1f MB (anonymous %.1f, file-backed %.1f) |\n' "$IDLE" "$(echo "$steady/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" "$(echo "$file/1024" | bc -l)"
printf '| agent RSS over the idle window (VmRSS each second, min–max) | %.1f–%.1f MB |\n' "$(echo "$rss_min/1024" | bc -l)" "$(echo "$rss_max/1024" | bc -l)"
printf '| agent bytes written while idle and connected (%s s, /proc/PID/io write_bytes) | %s |\n' "$IDLE" "$((io1 - io0))"
printf '| flotilla-agent stripped, linux/arm64 (working tree) | %.1f MB |\n' "$(echo "$arm/1000000" | bc -l)"
printf '| flotilla-agent stripped, linux/amd64 (make build, or AGENT) | %.1f MB |\n' "$(echo "$amd/1000000" | bc -l)"
