#!/usr/bin/env bash
# Runs ssehub (`ssehub serve`) and the baseline (axum Sse + tokio broadcast,
# bench/src/bin/baseline-server.rs) through the same load scenarios, one after
# the other in the same run, and prints a markdown table with both and the
# ratios. See docs/load.md.
#
# Usage: bench/run.sh [RESULTS_FILE]        (default: bench/results/latest.md)
#
# The server runs pinned to CPU $SERVER_CPU and the load generator to
# $LOAD_CPU (taskset), each scenario on a freshly started server.
#
# Sizes (each connection and event count is multiplied by SCALE, default 1;
# SCALE=0.05 is a quick run):
#   IDLE_CONNS=10000 IDLE_SECONDS=20                 (a) idle memory
#   TP_CONNS=10000 TP_EVENTS=1000 TP_PUBLISHERS=4    (b) throughput, as fast as possible
#   LAT1_CONNS=1000 LAT1_RATE=100 LAT1_EVENTS=2000   (c) latency at 100 events/s
#   LAT2_CONNS=10000 LAT2_RATE=10 LAT2_EVENTS=200    (c) latency at 10 events/s
#   PAYLOAD_BYTES=64 SERVER_CPU=0 LOAD_CPU=1 PORT_BASE=18300
#   SERVERS="ssehub baseline"  SSEHUB_SERVE_ARGS=""  (extra flags of `ssehub serve`)
#   FLOOR=1      (0: skip the bare writer, bench/src/bin/loopback-floor.rs, at
#                 the two fixed rates: the floor under CPU per delivery)
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/latest.md}
PORT_BASE=${PORT_BASE:-18300}
SERVERS=${SERVERS:-"ssehub baseline"}
SSEHUB_SERVE_ARGS=${SSEHUB_SERVE_ARGS:-}
FLOOR=${FLOOR:-1}

# shellcheck source=bench/lib.sh
. bench/lib.sh
scenario_sizes

# Each process needs a descriptor per connection, plus some.
raise_nofile $(( $(printf '%s\n' "$IDLE_CONNS" "$TP_CONNS" "$LAT1_CONNS" "$LAT2_CONNS" | sort -n | tail -1) + 256 ))

say "building release binaries"
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release

logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-bench.XXXXXX")
port=$PORT_BASE

# start_server NAME: a fresh server on a fresh port (so that no TIME_WAIT
# from an earlier scenario gets in the way), pinned to $SERVER_CPU.
start_server() {
    port=$((port + 1))
    local log="$logs/$1-$port.log" cmd
    # SSEHUB_SERVE_ARGS holds several words.
    # shellcheck disable=SC2206
    case $1 in
        # One load process opens every connection: no per-IP limit here.
        ssehub) cmd=("$bin/ssehub" serve --listen "127.0.0.1:$port" --max-connections-per-ip 0 --connect-rate 0 --publish-rate 0 $SSEHUB_SERVE_ARGS) ;;
        baseline) cmd=("$bin/baseline-server" --listen "127.0.0.1:$port") ;;
        *) say "unknown server $1"; exit 2 ;;
    esac
    # A simple command in the background: $! is the server itself (taskset
    # execs it), whose /proc entries the load generator reads.
    taskset -c "$SERVER_CPU" "${cmd[@]}" >"$log" 2>&1 &
    server_pid=$!
    # Both servers log "listening on" once bound.
    wait_listening "$1" "$log"
}

# load NAME SCENARIO ARGS...: one run of the load generator against a fresh
# server; its JSON line (empty if it failed) goes to R[NAME,SCENARIO]. (Not
# a command substitution: the server's PID and the port must stay in this
# shell, for the trap and the next port.)
declare -A R
load() {
    local name=$1 scenario=$2
    shift 2
    start_server "$name"
    say "$name: $scenario: ssehub-load $*"
    local out
    out=$(taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "http://127.0.0.1:$port" \
        --server-pid "$server_pid" --payload-bytes "$PAYLOAD_BYTES" "$@" \
        2>>"$logs/$name-$scenario.load.log" | tail -n 1) || true
    stop_server
    printf '%s %s %s\n' "$name" "$scenario" "$out" | tee -a "$logs/raw.txt" >&2
    R[$name,$scenario]=$out
}

for s in $SERVERS; do
    load "$s" idle --connections "$IDLE_CONNS" --idle-seconds "$IDLE_SECONDS"
    load "$s" tp --connections "$TP_CONNS" --events "$TP_EVENTS" \
        --rate 0 --publishers "$TP_PUBLISHERS"
    load "$s" lat1 --connections "$LAT1_CONNS" --events "$LAT1_EVENTS" \
        --rate "$LAT1_RATE" --publishers 2
    load "$s" lat2 --connections "$LAT2_CONNS" --events "$LAT2_EVENTS" \
        --rate "$LAT2_RATE" --publishers 2
done

# floor SCENARIO CONNECTIONS RATE ROUNDS: the bare writer at a scenario's
# size and rate, pinned as the servers are, read by loopback-floor's reader
# on the load CPU; its JSON line goes to R[floor,SCENARIO].
floor() {
    local scenario=$1 log out reader
    port=$((port + 1))
    log="$logs/floor-$scenario.log"
    out="$logs/floor-$scenario.json"
    say "floor: $scenario: loopback-floor write --connections $2 --rate $3 --rounds $4"
    taskset -c "$SERVER_CPU" "$bin/loopback-floor" write --connections "$2" \
        --rate "$3" --rounds "$4" --port "$port" >"$out" 2>"$log" &
    server_pid=$!
    wait_listening floor "$log"
    taskset -c "$LOAD_CPU" "$bin/loopback-floor" read --connections "$2" --port "$port" 2>>"$log" &
    reader=$!
    wait "$server_pid" || say "floor: $scenario: the writer failed (see $log)"
    server_pid=""
    # The reader ends when the writer's sockets close.
    wait "$reader" || true
    R[floor,$scenario]=$(tail -n 1 "$out")
    printf 'floor %s %s\n' "$scenario" "${R[floor,$scenario]}" | tee -a "$logs/raw.txt" >&2
}

if [ "$FLOOR" = 1 ]; then
    floor lat1 "$LAT1_CONNS" "$LAT1_RATE" "$LAT1_EVENTS"
    floor lat2 "$LAT2_CONNS" "$LAT2_RATE" "$LAT2_EVENTS"
fi

# num SERVER SCENARIO KEY [DIVISOR]: a field, optionally divided, formatted.
num() {
    local v
    v=$(field "${R[$1,$2]:-}" "$3")
    if [ -z "$v" ]; then echo "n/a"; return; fi
    awk -v v="$v" -v d="${4:-1}" 'BEGIN { x = v / d; if (x == int(x) && x < 1e15) printf "%d", x; else if (x >= 100) printf "%.0f", x; else printf "%.2f", x }'
}

# ratio A B: A / B as "N.NN×" ("n/a" if either is missing or B is 0).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f×", a / b }'
}

# row LABEL SCENARIO KEY DIVISOR BETTER: one table row; BETTER is "lower" or
# "higher" and orients the ratio so that above 1 means ssehub is better.
row() {
    local s b r
    s=$(num ssehub "$2" "$3" "$4")
    b=$(num baseline "$2" "$3" "$4")
    case $5 in
        lower) r=$(ratio "$b" "$s") ;;
        higher) r=$(ratio "$s" "$b") ;;
        *) r="" ;;
    esac
    printf '| %s | %s | %s | %s |\n' "$1" "$s" "$b" "$r"
}

# quotient SERVER SCENARIO NUMERATOR DENOMINATOR FACTOR FORMAT: json_quotient
# (lib.sh) of a run's JSON line, "n/a" where there is none.
quotient() {
    local v
    v=$(json_quotient "${R[$1,$2]:-}" "$3" "$4" "$5" "$6")
    echo "${v:-n/a}"
}

# CPU per delivery: server CPU microseconds per 1,000 delivered events.
cpu_per_k() { quotient "$1" "$2" server_cpu_seconds events_delivered 1e9 "%.1f"; }

# busy SERVER SCENARIO KEY: a CPU time (KEY: server_cpu_seconds or
# load_cpu_seconds) as a share of the delivery time, in %. Near 100 % for
# the load generator: it, not the server, limited the run.
busy() { quotient "$1" "$2" "$3" delivery_seconds 100 "%.0f %%"; }

# per_write SERVER SCENARIO: deliveries per server write system call (how
# many events one write carries).
per_write() { quotient "$1" "$2" events_delivered server_writes 1 "%.2f"; }

# cpu_row LABEL SCENARIO: server CPU per 1,000 deliveries, both servers.
cpu_row() {
    local s b
    s=$(cpu_per_k ssehub "$2")
    b=$(cpu_per_k baseline "$2")
    printf '| %s | %s | %s | %s |\n' "$1" "$s" "$b" "$(ratio "$b" "$s")"
}

# floor_table: CPU per delivery at the two fixed rates against the bare
# writer's CPU per write.
floor_table() {
    # shellcheck disable=SC2016 # literal backquotes: markdown
    printf '\n%s\n\n' 'The floor under CPU per delivery: `loopback-floor` writes each event once to each of as many loopback sockets, at the same rate, and does nothing else (no HTTP, no hub, no batching); its CPU per write is what a server that sends each event as it is published pays per delivery here, at least. "Busy": CPU time as a share of the run; near 100 % the process could not keep up, and a server that falls behind writes several events at once.'
    printf '| %s | %s | %s | %s | %s |\n|---|---|---|---|---|\n' \
        "CPU µs per 1,000 deliveries (busy)" ssehub baseline "floor (bare writer)" "half the baseline"
    local k label floor_cpu half
    for k in lat1 lat2; do
        case $k in
            lat1) label="$LAT1_RATE events/s to $LAT1_CONNS subscribers" ;;
            lat2) label="$LAT2_RATE events/s to $LAT2_CONNS subscribers" ;;
        esac
        floor_cpu=$(quotient floor "$k" cpu_seconds writes 1e9 "%.1f")
        # cpu_per_k's figure halved: 1e9 / 2.
        half=$(quotient baseline "$k" server_cpu_seconds events_delivered 5e8 "%.1f")
        printf '| %s | %s (%s) | %s (%s) | %s (%s) | %s |\n' "$label" \
            "$(cpu_per_k ssehub "$k")" "$(busy ssehub "$k" server_cpu_seconds)" \
            "$(cpu_per_k baseline "$k")" "$(busy baseline "$k" server_cpu_seconds)" \
            "$floor_cpu" "$(quotient floor "$k" cpu_seconds elapsed_seconds 100 "%.0f %%")" \
            "$half"
    done
}

table() {
    cat <<EOF
# Load: ssehub against the baseline

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'),
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')), $(uname -sr);
server on CPU $SERVER_CPU, load generator on CPU $LOAD_CPU; SCALE=$SCALE, payload $PAYLOAD_BYTES bytes.
Baseline: axum \`Sse\` + \`tokio::sync::broadcast\` (bench/src/bin/baseline-server.rs).
Ratio: how many times better ssehub is (baseline ÷ ssehub for costs, ssehub ÷ baseline for rates); above 1 favours ssehub.

| scenario / metric | ssehub | baseline | ratio |
|---|---|---|---|
EOF
    row "(a) idle, $IDLE_CONNS connections: server RSS per connection (bytes)" idle server_rss_per_connection_bytes 1 lower
    row "(b) throughput, $TP_CONNS subscribers, $TP_EVENTS events: delivered events/s" tp delivered_per_sec 1 higher
    cpu_row "(b) server CPU µs per 1,000 deliveries" tp
    printf '| %s | %s | %s | |\n' "(b) events per server write" "$(per_write ssehub tp)" "$(per_write baseline tp)"
    printf '| %s | %s | %s | |\n' "(b) server CPU busy, share of the delivery time" "$(busy ssehub tp server_cpu_seconds)" "$(busy baseline tp server_cpu_seconds)"
    printf '| %s | %s | %s | |\n' "(b) load generator CPU busy (one CPU; near 100 %: it limits the run)" "$(busy ssehub tp load_cpu_seconds)" "$(busy baseline tp load_cpu_seconds)"
    row "(b) latency p99 (ms)" tp latency_p99_us 1000 lower
    row "(b) gaps (events lost)" tp gaps 1 ""
    row "(b) duplicates" tp duplicates 1 ""
    row "(b) reconnects" tp reconnects 1 ""
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: latency p50 (ms)" lat1 latency_p50_us 1000 lower
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: latency p99 (ms)" lat1 latency_p99_us 1000 lower
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: gaps" lat1 gaps 1 ""
    cpu_row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: server CPU µs per 1,000 deliveries" lat1
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: latency p50 (ms)" lat2 latency_p50_us 1000 lower
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: latency p99 (ms)" lat2 latency_p99_us 1000 lower
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: gaps" lat2 gaps 1 ""
    cpu_row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: server CPU µs per 1,000 deliveries" lat2
    printf '| %s | %s | %s | |\n' "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: events per server write" "$(per_write ssehub lat2)" "$(per_write baseline lat2)"
    if [ "$FLOOR" = 1 ]; then floor_table; fi
    # shellcheck disable=SC2016 # literal backquotes: markdown
    printf '\nRaw lines from `ssehub-load` (and `loopback-floor`):\n\n```\n'
    for s in $SERVERS; do
        for k in idle tp lat1 lat2; do
            printf '%s %s %s\n' "$s" "$k" "${R[$s,$k]:-}"
        done
    done
    if [ "$FLOOR" = 1 ]; then
        for k in lat1 lat2; do
            printf 'floor %s %s\n' "$k" "${R[floor,$k]:-}"
        done
    fi
    printf '```\n'
}

mkdir -p "$(dirname "$results")"
table | tee "$results"
say "written to $results; server and load logs in $logs"
