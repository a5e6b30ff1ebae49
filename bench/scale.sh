#!/usr/bin/env bash
# How far one hub goes: `ssehub serve` with 1,000, 10,000 and 19,000 streams
# (a process may hold at most 20,000 descriptors here), for each count the
# server's RSS per idle stream, and events published one at a time to all
# of them: per event, the time until the last stream has it (p50, p99 over
# the events), next to the per-delivery latency. Issue 18, item 3 (one hub;
# across hubs on Redis: bench/cluster.sh).
#
# Usage: bench/scale.sh [RESULTS_FILE]     (default: bench/results/scale-latest.md)
#
#   COUNTS="1000 10000 19000" EVENTS=50 RATE=5 IDLE_SECONDS=20
#   PAYLOAD_BYTES=64 SERVER_CPU=0 LOAD_CPU=1 PORT_BASE=18700 MAX_CONNECTIONS=19900
#   STREAMS_PER_SOURCE=10000  (past it, streams connect from several loopback
#                             addresses, 127.I.M.*: see source_args in lib.sh)
#
# The server runs pinned to CPU $SERVER_CPU, the load generator to $LOAD_CPU;
# each count on a freshly started server. Plot: bench/plot-scale.py RESULTS PNG.
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/scale-latest.md}
COUNTS=${COUNTS:-"1000 10000 19000"}
EVENTS=${EVENTS:-50}
RATE=${RATE:-5}
IDLE_SECONDS=${IDLE_SECONDS:-20}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-18700}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-19900}
SCALE=1

# shellcheck source=bench/lib.sh
. bench/lib.sh

raise_nofile $(( $(printf '%s\n' $COUNTS | sort -n | tail -1) + 256 ))

say "building release binaries"
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release

logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-scale.XXXXXX")
port=$PORT_BASE

start_server() {
    port=$((port + 1))
    local log="$logs/ssehub-$port.log"
    # --max-connections: the default keeps a tenth of the 20,000 descriptors
    # (at most 1,024) in reserve, 18,976 streams here; 19,000 need more.
    taskset -c "$SERVER_CPU" "$bin/ssehub" serve --listen "127.0.0.1:$port" \
        --max-connections-per-ip 0 --connect-rate 0 --publish-rate 0 \
        --max-connections "$MAX_CONNECTIONS" >"$log" 2>&1 &
    server_pid=$!
    wait_listening ssehub "$log"
}

# run N SOURCES ARGS...: the load generator's JSON line against a fresh
# server; past $STREAMS_PER_SOURCE streams they connect from SOURCES1,
# SOURCES2, ... (source_args in lib.sh).
run() {
    local n=$1
    source_args "$n" "$2"
    shift 2
    start_server
    say "$n streams: ssehub-load $* ${SOURCE_ARGS[*]}"
    taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "http://127.0.0.1:$port" \
        --server-pid "$server_pid" --payload-bytes "$PAYLOAD_BYTES" \
        --connections "$n" "${SOURCE_ARGS[@]}" "$@" 2>>"$logs/load-$n.log" | tail -n 1 || true
    stop_server
}

ms() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.1f", v / 1000 }'; }

declare -A IDLE LOAD
# Each run binds its streams to loopback addresses of its own (127.I.1.*,
# 127.I.2.*): the ports an earlier run left in TIME_WAIT on an address
# would make every bind there search long for a free port (a 19,000-stream
# run right after another from the same two addresses took 47.6 s to
# connect instead of 1.5 s).
i=0
for n in $COUNTS; do
    i=$((i + 1))
    IDLE[$n]=$(run "$n" "127.$i.1." --idle-seconds "$IDLE_SECONDS")
    LOAD[$n]=$(run "$n" "127.$i.2." --events "$EVENTS" --rate "$RATE" --publishers 1)
    printf '%s idle %s\n%s load %s\n' "$n" "${IDLE[$n]}" "$n" "${LOAD[$n]}" >>"$logs/raw.txt"
done

first=$(printf '%s\n' $COUNTS | head -1)
table() {
    cat <<EOF
# One hub, more and more streams

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'),
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')), $(uname -sr);
server on CPU $SERVER_CPU, load generator on CPU $LOAD_CPU; $EVENTS events at $RATE/s to all streams, payload $PAYLOAD_BYTES bytes.
"To all": per event, until the last stream had it. "Growth": the p99 to all against the first count's, next to how many more streams.

| streams | RSS per idle stream (B) | to all p50 (ms) | to all p99 (ms) | growth (p99 / streams) | delivery p99 (ms) | gaps | duplicates |
|---|---|---|---|---|---|---|---|
EOF
    local base_p99
    base_p99=$(field "${LOAD[$first]}" to_all_p99_us)
    for n in $COUNTS; do
        local line=${LOAD[$n]} p99
        p99=$(field "$line" to_all_p99_us)
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" \
            "$(field "${IDLE[$n]}" server_rss_per_connection_bytes)" \
            "$(ms "$(field "$line" to_all_p50_us)")" "$(ms "$p99")" \
            "$(awk -v p="$p99" -v b="$base_p99" -v n="$n" -v f="$first" 'BEGIN { if (p == "" || b == "" || b == 0) print "n/a"; else printf "%.2f× / %.2f×", p / b, n / f }')" \
            "$(ms "$(field "$line" latency_p99_us)")" \
            "$(field "$line" gaps)" "$(field "$line" duplicates)"
    done
    # shellcheck disable=SC2016 # literal backquotes: markdown
    printf '\nRaw lines from `ssehub-load`:\n\n```\n'
    cat "$logs/raw.txt"
    printf '```\n'
}

mkdir -p "$(dirname "$results")"
table | tee "$results"
say "written to $results; server and load logs in $logs"
