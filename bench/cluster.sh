#!/usr/bin/env bash
# Three `ssehub serve --redis` hubs on one Redis, subscribers spread across
# them, against one in-memory hub with the same subscribers, in the same run;
# and what Redis did per event (its command counts). See docs/benchmarks.md.
#
# Usage: bench/cluster.sh [RESULTS_FILE]   (default: bench/results/cluster-latest.md)
#
# All servers (the hubs and Redis, or the single hub) share CPU $SERVER_CPU and
# the load generator runs on $LOAD_CPU: on a 2-CPU machine this measures what
# the Redis path costs, not how far more machines scale.
#   TP_CONNS=3000 TP_EVENTS=2000 TP_PUBLISHERS=3      throughput, as fast as possible
#   LAT_CONNS=999 LAT_RATE=100 LAT_EVENTS=1000       latency at 100 events/s
#   NODES=3 PAYLOAD_BYTES=64 SERVER_CPU=0 LOAD_CPU=1 PORT_BASE=18500
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/cluster-latest.md}
TP_CONNS=${TP_CONNS:-3000}
TP_EVENTS=${TP_EVENTS:-2000}
TP_PUBLISHERS=${TP_PUBLISHERS:-3}
LAT_CONNS=${LAT_CONNS:-999}
LAT_RATE=${LAT_RATE:-100}
LAT_EVENTS=${LAT_EVENTS:-1000}
NODES=${NODES:-3}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
port=${PORT_BASE:-18500}

# shellcheck source=bench/lib.sh
. bench/lib.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

say "building release binaries"
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release
logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-cluster.XXXXXX")
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

# stat NAME: calls of one Redis command so far.
calls() {
    redis-cli -p "$redis_port" INFO commandstats |
        sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | tr -d '\r'
}

declare -A R
# run_single SCENARIO ARGS...: one in-memory hub.
run_single() {
    local scenario=$1
    shift
    port=$((port + 1))
    start_hub "$port"
    R[single,$scenario]=$(taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "http://127.0.0.1:$port" \
        --server-pid "${pids[-1]}" --payload-bytes "$PAYLOAD_BYTES" "$@" 2>>"$logs/load.log" | tail -n 1)
    say "single $scenario ${R[single,$scenario]}"
    stop_all
}

# run_cluster SCENARIO ARGS...: NODES hubs on a fresh Redis.
run_cluster() {
    local scenario=$1 urls="" hub_pids=""
    shift
    start_redis
    for _ in $(seq "$NODES"); do
        port=$((port + 1))
        start_hub "$port" --redis "redis://127.0.0.1:$redis_port/"
        urls+="${urls:+,}http://127.0.0.1:$port"
        hub_pids+="${hub_pids:+,}${pids[-1]}"
    done
    local xadd0 xread0
    xadd0=$(calls xadd)
    xread0=$(calls xread)
    R[cluster,$scenario]=$(taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "$urls" \
        --server-pid "$hub_pids,$redis_pid" --payload-bytes "$PAYLOAD_BYTES" "$@" 2>>"$logs/load.log" | tail -n 1)
    R[xadd,$scenario]=$(( $(calls xadd) - ${xadd0:-0} ))
    R[xread,$scenario]=$(( $(calls xread) - ${xread0:-0} ))
    say "cluster $scenario ${R[cluster,$scenario]} xadd=${R[xadd,$scenario]} xread=${R[xread,$scenario]}"
    stop_all
}

for run in run_single run_cluster; do
    $run tp --connections "$TP_CONNS" --events "$TP_EVENTS" --rate 0 --publishers "$TP_PUBLISHERS"
    $run lat --connections "$LAT_CONNS" --events "$LAT_EVENTS" --rate "$LAT_RATE" --publishers "$NODES"
done

num() {
    local v
    v=$(field "${R[$1,$2]:-}" "$3")
    [ -n "$v" ] || { echo "n/a"; return; }
    awk -v v="$v" -v d="${4:-1}" 'BEGIN { x = v / d; if (x == int(x) && x < 1e15) printf "%d", x; else if (x >= 100) printf "%.0f", x; else printf "%.2f", x }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
row() {
    local c s
    c=$(num cluster "$2" "$3" "$4")
    s=$(num single "$2" "$3" "$4")
    printf '| %s | %s | %s | %s |\n' "$1" "$c" "$s" "$(ratio "$c" "$s")"
}
per_event() { awk -v n="$1" -v e="$2" 'BEGIN { if (e + 0 == 0) print "n/a"; else printf "%.3f", n / e }'; }

{
    cat <<EOF
# $NODES hubs on one Redis against one in-memory hub

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'), $(redis-server --version | awk '{print $3}'),
$(nproc) CPUs; every server process (hubs, Redis) on CPU $SERVER_CPU, the load generator on CPU $LOAD_CPU; payload $PAYLOAD_BYTES bytes.
Subscribers and publishers are spread over the $NODES hubs in turn. Ratio: cluster ÷ single.

| metric | $NODES hubs + Redis | 1 hub, in memory | ratio |
|---|---|---|---|
EOF
    row "throughput, $TP_CONNS subscribers, $TP_EVENTS events: delivered events/s" tp delivered_per_sec 1
    row "throughput: gaps (events lost)" tp gaps 1
    row "throughput: duplicates" tp duplicates 1
    row "$LAT_RATE events/s to $LAT_CONNS subscribers: latency p50 (ms)" lat latency_p50_us 1000
    row "$LAT_RATE events/s to $LAT_CONNS subscribers: latency p99 (ms)" lat latency_p99_us 1000
    row "$LAT_RATE events/s: gaps" lat gaps 1
    printf '\nRedis commands per published event (XADD: appends; XREAD: reads, all nodes together):\n\n'
    printf '| scenario | events | XADD | XADD per event | XREAD | XREAD per event |\n|---|---|---|---|---|---|\n'
    for k in tp lat; do
        local_events=$(field "${R[cluster,$k]:-}" events_published)
        printf '| %s | %s | %s | %s | %s | %s |\n' "$k" "${local_events:-n/a}" "${R[xadd,$k]}" \
            "$(per_event "${R[xadd,$k]}" "${local_events:-0}")" "${R[xread,$k]}" "$(per_event "${R[xread,$k]}" "${local_events:-0}")"
    done
    printf '\nRaw lines from `ssehub-load`:\n\n```\n'
    for k in tp lat; do
        printf 'single %s %s\ncluster %s %s\n' "$k" "${R[single,$k]:-}" "$k" "${R[cluster,$k]:-}"
    done
    printf '```\n'
} | tee "$results"
say "written to $results; logs in $logs"
