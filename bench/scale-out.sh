#!/usr/bin/env bash
# More streams than one process may hold (20,000 descriptors here): $HUBS
# `ssehub serve --redis` hubs on one Redis, one receiving `ssehub-load
# --receive-only` process per hub holding that hub's share of the streams,
# and one publishing `ssehub-load --connections 0`. For each count, on fresh
# processes: the hubs' RSS per idle stream (and Redis's, which holds each
# stream's presence entry), then events published one at a time through the
# first hub to all streams: per event, the time until the last stream of
# every process had it (p50, p99 over the events). Issue 18, item 3; one
# hub alone: bench/scale.sh.
#
# Usage: bench/scale-out.sh [RESULTS_FILE]   (default: bench/results/scale-out-latest.md)
#
#   COUNTS="1000 10000 100000" HUBS=6 EVENTS=50 IDLE_SECONDS=20
#   RATE=5 MAX_DELIVERIES=50000 PAYLOAD_BYTES=64 SERVER_CPU=0 LOAD_CPU=1
#   PORT_BASE=18900
#   STREAMS_PER_SOURCE=10000  (receiver H of the I-th count connects from
#                             127.I.H+1.*, one address per this many streams)
#
# Events go out at RATE a second, slower where that would be more than
# MAX_DELIVERIES a second to all streams together (100,000 streams: 0.5 a
# second): one load CPU reads about 100,000 events a second, so a faster
# rate would measure the receivers' queue, not the time of one event to all.
#
# The hubs and Redis run on CPU $SERVER_CPU, every load process on
# $LOAD_CPU. The processes share one time base (each event carries its
# wall-clock publish time; see bench/src/payload.rs), so a delivery's latency
# is measured where it arrives. Plot with the one-hub results:
# python3 bench/plot-scale.py bench/results/scale-latest.md docs/img/scale.png RESULTS_FILE
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/scale-out-latest.md}
COUNTS=${COUNTS:-"1000 10000 100000"}
HUBS=${HUBS:-6}
EVENTS=${EVENTS:-50}
RATE=${RATE:-5}
MAX_DELIVERIES=${MAX_DELIVERIES:-50000}
IDLE_SECONDS=${IDLE_SECONDS:-20}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
port=${PORT_BASE:-18900}
SCALE=1

# shellcheck source=bench/lib.sh
. bench/lib.sh

largest=$(printf '%s\n' $COUNTS | sort -n | tail -1)
# Each hub, on its defaults, keeps a tenth of its descriptors (at most
# 1,024) in reserve and refuses streams past the rest: room for its share.
raise_nofile $(( largest / HUBS + 2048 ))

say "building release binaries"
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release
logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-scale-out.XXXXXX")
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# run COUNT I: one count (the I-th) on fresh processes; prints the merged
# JSON lines.
run() {
    local count=$1 hub_pids=() hub_ports=()
    start_redis
    for _ in $(seq "$HUBS"); do
        port=$((port + 1))
        start_hub "$port" --redis "redis://127.0.0.1:$redis_port/"
        hub_pids+=("${pids[-1]}")
        hub_ports+=("$port")
    done
    local rss0=() redis0
    for pid in "${hub_pids[@]}"; do rss0+=("$(rss_kb "$pid")"); done
    redis0=$(rss_kb "$redis_pid")

    say "$count streams over $HUBS hubs: receivers connecting"
    local receivers=() h share
    for h in $(seq 0 $((HUBS - 1))); do
        # The first hubs take one stream more when the count does not divide.
        share=$(( count / HUBS + (h < count % HUBS ? 1 : 0) ))
        # Each receiver of each count connects from addresses of its own
        # (127.I.H+1.*; why: source_args in lib.sh, and scale.sh).
        source_args "$share" "127.$2.$((h + 1))."
        taskset -c "$LOAD_CPU" "$bin/ssehub-load" --receive-only \
            --url "http://127.0.0.1:${hub_ports[$h]}" --connections "$share" "${SOURCE_ARGS[@]}" \
            --events "$EVENTS" --publishers 1 --payload-bytes "$PAYLOAD_BYTES" \
            --connect-timeout 600 --ready-file "$logs/ready-$count-$h" \
            >"$logs/recv-$count-$h.json" 2>"$logs/recv-$count-$h.log" &
        pids+=($!)
        receivers+=($!)
    done
    for h in $(seq 0 $((HUBS - 1))); do
        until [ -e "$logs/ready-$count-$h" ]; do
            kill -0 "${receivers[$h]}" 2>/dev/null || {
                say "receiver $h ended before its streams were open:"
                cat "$logs/recv-$count-$h.log" >&2
                exit 1
            }
            sleep 0.2
        done
    done
    # Idle: let the hubs settle (deferred frees, presence joins) first.
    sleep "$IDLE_SECONDS"
    local rss1=() redis1
    for pid in "${hub_pids[@]}"; do rss1+=("$(rss_kb "$pid")"); done
    redis1=$(rss_kb "$redis_pid")

    local rate
    rate=$(awk -v r="$RATE" -v m="$MAX_DELIVERIES" -v n="$count" 'BEGIN { x = m / n; print (x < r ? x : r) }')
    echo "$rate" >"$logs/rate-$count"
    say "$count streams: publishing $EVENTS events at $rate/s through the first hub"
    taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "http://127.0.0.1:${hub_ports[0]}" \
        --connections 0 --events "$EVENTS" --rate "$rate" --publishers 1 \
        --payload-bytes "$PAYLOAD_BYTES" >"$logs/pub-$count.json" 2>"$logs/pub-$count.log"
    for pid in "${receivers[@]}"; do wait "$pid" || true; done
    stop_all

    python3 - "$count" "$HUBS" "${rss0[*]}" "${rss1[*]}" "$redis0" "$redis1" \
        "$logs/pub-$count.json" "$logs"/recv-"$count"-*.json <<'EOF'
import json, sys

count, hubs = int(sys.argv[1]), int(sys.argv[2])
rss0 = [int(x) for x in sys.argv[3].split()]
rss1 = [int(x) for x in sys.argv[4].split()]
redis0, redis1 = int(sys.argv[5]), int(sys.argv[6])
def last_line(path):
    lines = [l for l in open(path, encoding="utf-8").read().splitlines() if l.strip()]
    return json.loads(lines[-1]) if lines else {}
pub = last_line(sys.argv[7])
recv = [last_line(p) for p in sys.argv[8:]]
connected = sum(r.get("connected", 0) for r in recv)
per = lambda kb: round(kb * 1024 / connected) if connected else None
idle = {
    "hubs": hubs,
    "connections": count,
    "connected": connected,
    "connect_seconds": max((r.get("connect_seconds", 0) for r in recv), default=0),
    "server_rss_before_kb": sum(rss0),
    "server_rss_after_kb": sum(rss1),
    "server_rss_per_connection_bytes": per(sum(rss1) - sum(rss0)),
    "redis_rss_per_connection_bytes": per(redis1 - redis0),
}
# Per event, the slowest process's slowest stream; an event some process
# (with streams) never had counts as missing.
each = [r.get("to_all_each_us", []) for r in recv if r.get("connected", 0) > 0]
events = len(each[0]) if each else 0
to_all, missing = [], 0
for i in range(events):
    column = [e[i] if i < len(e) else 0 for e in each]
    if min(column) == 0:
        missing += 1
    else:
        to_all.append(max(column))
to_all.sort()
def q(p):
    return to_all[min(len(to_all) - 1, max(0, -(-len(to_all) * p // 100) - 1))] if to_all else 0
load = {
    "hubs": hubs,
    "connections": count,
    "connected": connected,
    "events_published": pub.get("events_published", 0),
    "events_expected": sum(r.get("events_expected", 0) for r in recv),
    "events_delivered": sum(r.get("events_delivered", 0) for r in recv),
    "gaps": sum(r.get("gaps", 0) for r in recv),
    "duplicates": sum(r.get("duplicates", 0) for r in recv),
    "lost_streams": sum(r.get("lost_streams", 0) for r in recv),
    "reconnects": sum(r.get("reconnects", 0) for r in recv),
    "events_missing_somewhere": missing,
    "to_all_p50_us": q(50),
    "to_all_p99_us": q(99),
    "to_all_max_us": to_all[-1] if to_all else 0,
    # Per process p99 of single deliveries; the largest (the processes'
    # histograms are not merged).
    "latency_p99_us": max((r.get("latency_p99_us", 0) for r in recv), default=0),
}
print(f"{count} idle {json.dumps(idle, separators=(',', ':'))}")
print(f"{count} load {json.dumps(load, separators=(',', ':'))}")
EOF
}

i=0
for count in $COUNTS; do
    i=$((i + 1))
    run "$count" "$i" >>"$logs/raw.txt"
    tail -n 2 "$logs/raw.txt" >&2
done

ms() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.1f", v / 1000 }'; }
line() { grep "^$1 $2 " "$logs/raw.txt" | tail -n 1 | cut -d' ' -f3-; }

mkdir -p "$(dirname "$results")"
{
    cat <<EOF
# $HUBS hubs on one Redis, more and more streams

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'), $(redis-server --version | awk '{print $3}'),
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')), $(uname -sr);
hubs and Redis on CPU $SERVER_CPU, $HUBS receiving load processes and the publisher on CPU $LOAD_CPU; $EVENTS events to all streams at $RATE/s, or $MAX_DELIVERIES deliveries/s where that is slower (the rate column), payload $PAYLOAD_BYTES bytes.
"To all": per event, until the last stream of every process had it. RSS per stream: the hubs' growth (summed) and Redis's, over the open streams.

| streams | hubs | RSS per idle stream, hubs (B) | Redis (B) | connect (s) | events/s | to all p50 (ms) | to all p99 (ms) | delivery p99, worst process (ms) | gaps | duplicates | missing somewhere |
|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
    for count in $COUNTS; do
        idle=$(line "$count" idle)
        load=$(line "$count" load)
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$count" "$HUBS" \
            "$(field "$idle" server_rss_per_connection_bytes)" "$(field "$idle" redis_rss_per_connection_bytes)" \
            "$(field "$idle" connect_seconds)" "$(cat "$logs/rate-$count")" \
            "$(ms "$(field "$load" to_all_p50_us)")" "$(ms "$(field "$load" to_all_p99_us)")" \
            "$(ms "$(field "$load" latency_p99_us)")" \
            "$(field "$load" gaps)" "$(field "$load" duplicates)" "$(field "$load" events_missing_somewhere)"
    done
    # shellcheck disable=SC2016 # literal backquotes: markdown
    printf '\nRaw lines (merged over the processes):\n\n```\n'
    cat "$logs/raw.txt"
    printf '```\n'
} >"$results.tmp"
mv "$results.tmp" "$results"
cat "$results"
say "written to $results; logs in $logs"
