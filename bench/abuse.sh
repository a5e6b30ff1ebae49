#!/usr/bin/env bash
# Healthy clients' latency and the hub's memory during each abuse, next to
# the same figures without it, in the same run (issue 15; the table goes to
# docs/reliability.md).
#
# Usage: bench/abuse.sh [RESULTS_FILE]   (default: bench/results/abuse-latest.md)
#
# Each scenario runs on a freshly started `ssehub serve --listen
# 127.0.0.1:PORT`, on its defaults otherwise (no per-IP limits, 1 MiB
# events, 2 MiB bodies, 16 KiB heads within 30 s), pinned to $SERVER_CPU.
# The healthy clients are `ssehub-load` (pinned to $LOAD_CPU): HEALTHY_CONNS
# subscribers, HEALTHY_EVENTS events at HEALTHY_RATE events/s. They run once
# alone, then during the abuse (`ssehub-abuse`, bench/src/bin, started
# WARMUP seconds before them and stopped when they are done, on $ABUSE_CPU
# at nice $ABUSE_NICE), for each abuse in turn. The server's RSS is sampled
# every 0.1 s during each scenario.
#
# Sizes (connection and event counts multiplied by SCALE, default 1):
#   HEALTHY_CONNS=1000 HEALTHY_RATE=100 HEALTHY_EVENTS=2000 PAYLOAD_BYTES=64
#   CHURN_WORKERS=32 CHURN_RATE=0 (streams/s; 0: as fast as the hub answers)
#   SLOW_CONNS=2000 SLOW_INTERVAL_MS=1000
#   OVERSIZED_WORKERS=2 OVERSIZED_RATE=20 (requests/s; 0: as fast as answered)
#   STALL_CONNS=200 STALL_SECONDS=5 FILLER_RATE=100 FILLER_BYTES=16384
#   STALL_STREAMS_PER_CONNECTION=10 (stall-h2)
#   ABUSES="churn slowloris oversized stall stall-h2"  WARMUP=2
#
# stall-h2 is stall over HTTP/2: that scenario's hub (with and without the
# abuse) serves TLS with a certificate made for the run (openssl), and the
# healthy clients and the abuser speak HTTP/2 to it.
#   SERVER_CPU=0 LOAD_CPU=1 ABUSE_CPU=1 ABUSE_NICE=10 PORT_BASE=18500
#   SSEHUB_SERVE_ARGS=""  (extra flags of `ssehub serve`)
#   HEALTHY_SOURCES=0 ABUSE_SOURCE=""  (plain HTTP: connect the healthy
#   streams from 127.0.1.1 ... 127.0.1.N in turn, and the abuser from that
#   address; so that the hub's per-address limits, e.g. SSEHUB_SERVE_ARGS=
#   "--connect-rate 20", see them as many clients and one)
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/abuse-latest.md}
SCALE=${SCALE:-1}
HEALTHY_RATE=${HEALTHY_RATE:-100}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}
CHURN_RATE=${CHURN_RATE:-0}
SLOW_INTERVAL_MS=${SLOW_INTERVAL_MS:-1000}
OVERSIZED_RATE=${OVERSIZED_RATE:-20}
STALL_SECONDS=${STALL_SECONDS:-5}
FILLER_RATE=${FILLER_RATE:-100}
FILLER_BYTES=${FILLER_BYTES:-16384}
ABUSES=${ABUSES:-"churn slowloris oversized stall stall-h2"}
STALL_STREAMS_PER_CONNECTION=${STALL_STREAMS_PER_CONNECTION:-10}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ABUSE_CPU=${ABUSE_CPU:-1}
ABUSE_NICE=${ABUSE_NICE:-10}
PORT_BASE=${PORT_BASE:-18500}
SSEHUB_SERVE_ARGS=${SSEHUB_SERVE_ARGS:-}
HEALTHY_SOURCES=${HEALTHY_SOURCES:-0}
ABUSE_SOURCE=${ABUSE_SOURCE:-}
healthy_sources=()
if [ "$HEALTHY_SOURCES" -gt 0 ]; then
    healthy_sources=(--source-ip "$(seq -s, -f '127.0.1.%g' 1 "$HEALTHY_SOURCES")")
fi
abuse_source=()
if [ -n "$ABUSE_SOURCE" ]; then abuse_source=(--source-ip "$ABUSE_SOURCE"); fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
HEALTHY_CONNS=$(scaled "${HEALTHY_CONNS:-1000}")
HEALTHY_EVENTS=$(scaled "${HEALTHY_EVENTS:-2000}")
CHURN_WORKERS=$(scaled "${CHURN_WORKERS:-32}")
SLOW_CONNS=$(scaled "${SLOW_CONNS:-2000}")
OVERSIZED_WORKERS=$(scaled "${OVERSIZED_WORKERS:-2}")
STALL_CONNS=$(scaled "${STALL_CONNS:-200}")

# The server holds the healthy streams and the abusive connections; each
# client process its own.
raise_nofile $(( HEALTHY_CONNS + SLOW_CONNS + STALL_CONNS + CHURN_WORKERS + 512 ))

say "building release binaries"
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release

logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-abuse.XXXXXX")
port=$PORT_BASE

abuse_pid=""
sampler_pid=""
cleanup() {
    if [ -n "$abuse_pid" ]; then kill -TERM "$abuse_pid" 2>/dev/null || true; fi
    if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
    stop_server
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# A certificate for the HTTP/2 scenario (stall-h2), made once.
case " $ABUSES " in
    *" stall-h2 "*)
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
            -keyout "$logs/key.pem" -out "$logs/cert.pem" 2>/dev/null
        ;;
esac

# start_server [https]: a fresh `ssehub serve` on a fresh port, pinned to
# $SERVER_CPU, serving TLS with the run's certificate when asked;
# $server_pid is the server itself (taskset execs it).
start_server() {
    port=$((port + 1))
    local log="$logs/ssehub-$port.log" tls=()
    if [ "${1:-}" = https ]; then tls=(--tls-cert "$logs/cert.pem" --tls-key "$logs/key.pem"); fi
    # SSEHUB_SERVE_ARGS holds several words.
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" "$bin/ssehub" serve --listen "127.0.0.1:$port" "${tls[@]}" $SSEHUB_SERVE_ARGS >"$log" 2>&1 &
    server_pid=$!
    wait_listening ssehub "$log"
}

# sample_rss PID FILE: every 0.1 s, the highest VmRSS (KiB) so far into
# FILE, until PID is gone (no fork per sample: `read` from /proc).
sample_rss() {
    local pid=$1 file=$2 peak=0 key value _
    while kill -0 "$pid" 2>/dev/null; do
        while read -r key value _; do
            if [ "$key" = VmRSS: ]; then
                if [ "$value" -gt "$peak" ]; then
                    peak=$value
                    echo "$peak" >"$file"
                fi
                break
            fi
        done <"/proc/$pid/status" 2>/dev/null || true
        sleep 0.1
    done
}

# abuse_args NAME: the flags of `ssehub-abuse` for that abuse.
abuse_args() {
    case $1 in
        churn) echo "--mode churn --connections $CHURN_WORKERS --rate $CHURN_RATE" ;;
        slowloris) echo "--mode slowloris --connections $SLOW_CONNS --interval-ms $SLOW_INTERVAL_MS" ;;
        oversized) echo "--mode oversized --connections $OVERSIZED_WORKERS --rate $OVERSIZED_RATE" ;;
        stall) echo "--mode stall --connections $STALL_CONNS --stall-seconds $STALL_SECONDS --filler-rate $FILLER_RATE --filler-bytes $FILLER_BYTES" ;;
        stall-h2) echo "--mode stall --insecure --streams-per-connection $STALL_STREAMS_PER_CONNECTION --connections $STALL_CONNS --stall-seconds $STALL_SECONDS --filler-rate $FILLER_RATE --filler-bytes $FILLER_BYTES" ;;
        *) say "unknown abuse $1"; exit 2 ;;
    esac
}

# scenario KEY ABUSE: the healthy load on a fresh server, with ABUSE
# ("none": alone) running next to it; sets L[KEY] (the load's JSON line),
# A[KEY] (the abuser's) and RSS[KEY] (peak KiB).
declare -A L A RSS
scenario() {
    local key=$1 abuse=$2 out scheme=http tls=()
    case $key in *-h2) scheme=https; tls=(--insecure) ;; esac
    start_server "$scheme"
    echo 0 >"$logs/$key.rss"
    sample_rss "$server_pid" "$logs/$key.rss" &
    sampler_pid=$!
    if [ "$abuse" != none ]; then
        local args
        args=$(abuse_args "$abuse")
        say "$key: ssehub-abuse $args"
        # shellcheck disable=SC2086 # several flags
        taskset -c "$ABUSE_CPU" nice -n "$ABUSE_NICE" "$bin/ssehub-abuse" \
            --url "$scheme://127.0.0.1:$port" --duration 0 "${abuse_source[@]}" $args \
            >"$logs/$key.abuse.json" 2>"$logs/$key.abuse.log" &
        abuse_pid=$!
        sleep "$WARMUP"
    fi
    say "$key: ssehub-load, $HEALTHY_CONNS subscribers, $HEALTHY_EVENTS events at $HEALTHY_RATE/s"
    out=$(taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "$scheme://127.0.0.1:$port" "${tls[@]}" "${healthy_sources[@]}" \
        --server-pid "$server_pid" --payload-bytes "$PAYLOAD_BYTES" \
        --connections "$HEALTHY_CONNS" --events "$HEALTHY_EVENTS" \
        --rate "$HEALTHY_RATE" --publishers 2 \
        2>>"$logs/$key.load.log" | tail -n 1) || true
    if [ -n "$abuse_pid" ]; then
        kill -TERM "$abuse_pid" 2>/dev/null || true
        wait "$abuse_pid" 2>/dev/null || true
        abuse_pid=""
        A[$key]=$(tail -n 1 "$logs/$key.abuse.json")
    fi
    stop_server
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=""
    L[$key]=$out
    RSS[$key]=$(cat "$logs/$key.rss")
    printf '%s load %s\n%s abuse %s\n%s rss_peak_kb %s\n' "$key" "$out" "$key" "${A[$key]:-}" "$key" "${RSS[$key]}" \
        | tee -a "$logs/raw.txt" >&2
}

# Each abuse right after a run without it, so that each pair sees the
# machine in the same state (other work on it moves the figures more
# between minutes than within one).
for a in $ABUSES; do
    scenario "none-$a" none
    scenario "$a" "$a"
done

# ms JSON KEY: a latency field in ms, two decimals ("n/a" if absent).
ms() {
    local v
    v=$(field "$1" "$2")
    if [ -z "$v" ]; then echo "n/a"; return; fi
    awk -v v="$v" 'BEGIN { printf "%.2f", v / 1000 }'
}

# statuses JSON: the abuser's answers by status, as "200: 5, 413: 2".
statuses() {
    local s
    s=$(sed -n 's/.*"statuses":{\([^}]*\)}.*/\1/p' <<<"$1" | sed 's/"//g; s/:/: /g; s/,/, /g')
    echo "${s:-none}"
}

# achieved KEY: what the abuser did, in words.
achieved() {
    local j=${A[$1]:-}
    if [ -z "$j" ]; then echo "n/a (no report)"; return; fi
    local errors
    errors="$(field "$j" connect_errors) connect errors, $(field "$j" no_answer) without an answer"
    case $1 in
        churn) echo "$(field "$j" streams_per_sec) streams opened and closed/s ($(field "$j" streams_opened) in $(field "$j" seconds) s); answers $(statuses "$j"); $errors" ;;
        slowloris) echo "$(field "$j" held_peak) unfinished heads held at once ($(field "$j" held_at_end) at the end), $(field "$j" bytes_sent) bytes sent in $(field "$j" seconds) s; $(field "$j" closed_by_server) closed by the hub (answers $(statuses "$j")); $errors" ;;
        oversized) echo "$(field "$j" requests_per_sec) requests/s, $(field "$j" mb_sent_per_sec) MB/s ($(field "$j" bytes_sent) bytes in $(field "$j" seconds) s); answers $(statuses "$j"); $errors" ;;
        stall | stall-h2) echo "$(field "$j" held_peak) unread streams at once, $(field "$j" connects) opened in $(field "$j" seconds) s (answers $(statuses "$j")); when checked after ${STALL_SECONDS} s: $(field "$j" closed_by_server) cut by the hub, $(field "$j" still_open_when_checked) with no end of stream within 5 s of reading; $(field "$j" filler_published) filler events of $FILLER_BYTES B; $errors" ;;
        *) echo "" ;;
    esac
}

# mb KIB: KiB as MB with one decimal.
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# lossdup KEY: "gaps / duplicates" of the healthy clients, with reconnects
# and lost streams when there are any.
lossdup() {
    local j=${L[$1]:-}
    if [ -z "$j" ]; then echo "n/a (no report)"; return; fi
    local s
    s="$(field "$j" gaps) / $(field "$j" duplicates)"
    if [ "$(field "$j" reconnects)" != 0 ] || [ "$(field "$j" lost_streams)" != 0 ]; then
        s="$s ($(field "$j" reconnects) reconnects, $(field "$j" lost_streams) streams lost)"
    fi
    if [ "$(field "$j" connected)" != "$HEALTHY_CONNS" ]; then
        s="$s; only $(field "$j" connected) of $HEALTHY_CONNS connected"
    fi
    echo "$s"
}

# row ABUSE: the abuse's run next to the run without it just before.
row() {
    local key=$1 what base=${L[none-$1]:-} j=${L[$1]:-} ratio
    what=$(achieved "$key")
    ratio=$(awk -v a="$(field "$j" latency_p99_us)" -v b="$(field "$base" latency_p99_us)" \
        'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f×", a / b }')
    printf '| %s | %s | %s / %s | %s / %s | %s | %s / %s | %s / %s | %s |\n' \
        "$key" "$what" \
        "$(ms "$base" latency_p50_us)" "$(ms "$base" latency_p99_us)" \
        "$(ms "$j" latency_p50_us)" "$(ms "$j" latency_p99_us)" "$ratio" \
        "$(mb "${RSS[none-$key]:-0}")" "$(mb "${RSS[$key]:-0}")" \
        "$(field "$base" server_cpu_seconds)" "$(field "$j" server_cpu_seconds)" \
        "$(lossdup "none-$key"); $(lossdup "$key")"
}

table() {
    cat <<EOF
# Healthy clients during abuse

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'),
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')), $(uname -sr);
\`ssehub serve\` on its defaults on CPU $SERVER_CPU; healthy clients (\`ssehub-load\`) on CPU $LOAD_CPU;
the abuser (\`ssehub-abuse\`) on CPU $ABUSE_CPU at nice $ABUSE_NICE; SCALE=$SCALE.
Extra flags of \`ssehub serve\`: ${SSEHUB_SERVE_ARGS:-none}; healthy streams from ${HEALTHY_SOURCES} loopback addresses (0: one), the abuser from ${ABUSE_SOURCE:-the same}.
Healthy load: $HEALTHY_CONNS subscribers, $HEALTHY_EVENTS events of $PAYLOAD_BYTES bytes at $HEALTHY_RATE events/s from 2 publishers.
Latency: publish to receipt by the healthy subscribers, p50 / p99 in ms; "without": the same load alone, on a fresh server, just before.
stall-h2: the hub serves TLS with a certificate made for the run, and every client of that scenario (with and without the abuse) speaks HTTP/2.
RSS: the server's peak during the scenario (sampled every 0.1 s). CPU: the server's CPU seconds while the healthy events were published and delivered.

| abuse | what the abuser achieved | healthy p50 / p99 without (ms) | with (ms) | p99 ratio | server RSS peak without / with (MB) | server CPU without / with (s) | healthy gaps / duplicates without / with |
|---|---|---|---|---|---|---|---|
EOF
    for a in $ABUSES; do
        row "$a"
    done
    # shellcheck disable=SC2016 # literal backquotes: markdown
    printf '\nRaw lines (`ssehub-load`, `ssehub-abuse`, peak RSS in KiB):\n\n```\n'
    cat "$logs/raw.txt"
    printf '```\n'
}

mkdir -p "$(dirname "$results")"
table | tee "$results"
say "written to $results; logs in $logs"
