#!/usr/bin/env bash
# Plain HTTP/1.1 against HTTP/2 + TLS, both on `ssehub serve`: the idle-memory
# and throughput scenarios of bench/run.sh, same sizes, the two transports
# alternating ROUNDS times in the same run; prints one markdown table with the
# medians and their ratio. See docs/load.md and docs/benchmarks.md.
#
# Usage: bench/tls.sh [RESULTS_FILE]        (default: bench/results/tls-latest.md)
#
# HTTPS: a self-signed P-256 certificate made for the run (openssl), served
# with `--tls-cert/--tls-key`; `ssehub-load` speaks HTTP/2 (ALPN h2) with
# --streams-per-connection streams on each TLS connection and does not check
# the certificate (--insecure). Publishers: one HTTP/2 connection each.
#
# Sizes (connection and event counts multiplied by SCALE, default 1):
#   IDLE_CONNS=10000 IDLE_SECONDS=5                  (a) idle memory
#   TP_CONNS=10000 TP_EVENTS=1000 TP_PUBLISHERS=4    (b) throughput, as fast as possible
#   STREAMS_PER_CONNECTION=100  ROUNDS=3  SOLO=1     (SOLO=1: also idle over HTTP/2
#                                                     with one stream per TLS connection)
#   PAYLOAD_BYTES=64 SERVER_CPU=0 LOAD_CPU=1 PORT_BASE=18500
#   SSEHUB_SERVE_ARGS=""  (extra flags of `ssehub serve`, both transports)
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/tls-latest.md}
SCALE=${SCALE:-1}
IDLE_SECONDS=${IDLE_SECONDS:-5}
TP_PUBLISHERS=${TP_PUBLISHERS:-4}
STREAMS_PER_CONNECTION=${STREAMS_PER_CONNECTION:-100}
ROUNDS=${ROUNDS:-3}
SOLO=${SOLO:-1}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-18500}
SSEHUB_SERVE_ARGS=${SSEHUB_SERVE_ARGS:-}

# shellcheck source=bench/lib.sh
. bench/lib.sh
IDLE_CONNS=$(scaled "${IDLE_CONNS:-10000}")
TP_CONNS=$(scaled "${TP_CONNS:-10000}")
TP_EVENTS=$(scaled "${TP_EVENTS:-1000}")


raise_nofile $(( (IDLE_CONNS > TP_CONNS ? IDLE_CONNS : TP_CONNS) + 256 ))

say "building release binaries"
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release

logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-tls.XXXXXX")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$logs/key.pem" -out "$logs/cert.pem" 2>/dev/null

port=$PORT_BASE

# start_server TRANSPORT: a fresh `ssehub serve` on a fresh port, pinned to
# $SERVER_CPU; plain (h1) or with the run's certificate (h2).
start_server() {
    port=$((port + 1))
    local log="$logs/$1-$port.log" tls=()
    if [ "$1" = h2 ]; then tls=(--tls-cert "$logs/cert.pem" --tls-key "$logs/key.pem"); fi
    # shellcheck disable=SC2086 # SSEHUB_SERVE_ARGS holds several words.
    taskset -c "$SERVER_CPU" "$bin/ssehub" serve --listen "127.0.0.1:$port" \
        --max-connections-per-ip 0 --connect-rate 0 --publish-rate 0 "${tls[@]}" \
        $SSEHUB_SERVE_ARGS >"$log" 2>&1 &
    server_pid=$!
    wait_listening "ssehub ($1)" "$log"
}

# load TRANSPORT SCENARIO ARGS...: one run of the load generator against a
# fresh server; appends "TRANSPORT SCENARIO JSON" to $logs/raw.txt. Over h2,
# $spc streams share a connection (default $STREAMS_PER_CONNECTION).
load() {
    local transport=$1 scenario=$2 url
    shift 2
    # Other work on the machine skews everything: note how busy it was.
    cut -d' ' -f1 /proc/loadavg >>"$logs/loadavg.txt"
    start_server "$transport"
    local extra=()
    if [ "$transport" = h2 ]; then
        url="https://127.0.0.1:$port"
        extra=(--insecure --streams-per-connection "${spc:-$STREAMS_PER_CONNECTION}")
    else
        url="http://127.0.0.1:$port"
    fi
    say "$transport: $scenario: ssehub-load --url $url ${extra[*]} $*"
    local out
    out=$(taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "$url" "${extra[@]}" \
        --server-pid "$server_pid" --payload-bytes "$PAYLOAD_BYTES" "$@" \
        2>>"$logs/$transport-$scenario.load.log" | tail -n 1) || true
    stop_server
    printf '%s %s %s\n' "$transport" "$scenario" "$out" | tee -a "$logs/raw.txt" >&2
}

: >"$logs/raw.txt"
: >"$logs/loadavg.txt"
for round in $(seq "$ROUNDS"); do
    say "round $round of $ROUNDS"
    for t in h1 h2; do
        load "$t" idle --connections "$IDLE_CONNS" --idle-seconds "$IDLE_SECONDS"
    done
    if [ "$SOLO" = 1 ]; then
        spc=1 load h2 idle-solo --connections "$IDLE_CONNS" --idle-seconds "$IDLE_SECONDS"
    fi
    for t in h1 h2; do
        load "$t" tp --connections "$TP_CONNS" --events "$TP_EVENTS" \
            --rate 0 --publishers "$TP_PUBLISHERS"
    done
done

header() {
    cat <<EOF
# Load: plain HTTP/1.1 against HTTP/2 + TLS (\`ssehub serve\`)

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'),
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')), $(uname -sr);
server on CPU $SERVER_CPU, load generator on CPU $LOAD_CPU; SCALE=$SCALE, payload $PAYLOAD_BYTES bytes;
median of $ROUNDS rounds, the transports alternating, each scenario on a fresh server;
1-minute load average before each scenario: $(sort -n "$logs/loadavg.txt" | sed -n '1p;$p' | paste -sd '-' | sed 's/-/ to /') (2 would be this run alone).
HTTP/2 + TLS: TLS 1.3, self-signed P-256 certificate, $STREAMS_PER_CONNECTION streams per connection; publishers one HTTP/2 connection each.
Ratio: HTTP/2 + TLS ÷ plain HTTP/1.1 (above 1: more bytes, more CPU, more events/s).

EOF
}

mkdir -p "$(dirname "$results")"
{
    header
    python3 - "$logs/raw.txt" <<'PY'
import json, statistics, sys

runs = {}
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) == 3 and parts[2].strip():
        runs.setdefault((parts[0], parts[1]), []).append(json.loads(parts[2]))

def med(transport, scenario, f):
    values = [f(r) for r in runs.get((transport, scenario), [])]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def per_k(r):
    cpu, delivered = r.get("server_cpu_seconds"), r.get("events_delivered")
    return cpu * 1e9 / delivered if cpu is not None and delivered else None

def total(transport, scenario, key):
    rs = runs.get((transport, scenario), [])
    return sum(r.get(key, 0) for r in rs) if rs else None

def fmt(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}×"

first = lambda t, s, k: (runs.get((t, s)) or [{}])[0].get(k)
idle_conns, tp_conns = first("h1", "idle", "connections"), first("h1", "tp", "connections")
tp_events = first("h1", "tp", "events_published")
rows = [
    (f"(a) idle, {fmt(idle_conns)} streams: TCP connections", "idle", lambda r: r.get("tcp_connections"), 0),
    ("(a) idle: server RSS per stream (bytes)", "idle", lambda r: r.get("server_rss_per_connection_bytes"), 0),
    (f"(b) throughput, {fmt(tp_conns)} subscribers, {fmt(tp_events)} events: delivered events/s", "tp", lambda r: r.get("delivered_per_sec"), 0),
    ("(b) server CPU µs per 1,000 deliveries", "tp", per_k, 0),
    ("(b) published events/s", "tp", lambda r: r.get("published_per_sec"), 0),
    ("(b) latency p50 (ms)", "tp", lambda r: r["latency_p50_us"] / 1000 if "latency_p50_us" in r else None, 1),
    ("(b) latency p99 (ms)", "tp", lambda r: r["latency_p99_us"] / 1000 if "latency_p99_us" in r else None, 1),
]
print("| scenario / metric | plain HTTP/1.1 | HTTP/2 + TLS | ratio |")
print("|---|---|---|---|")
for label, scenario, f, digits in rows:
    a, b = med("h1", scenario, f), med("h2", scenario, f)
    print(f"| {label} | {fmt(a, digits)} | {fmt(b, digits)} | {ratio(b, a)} |")
for key, label in [("gaps", "gaps (events lost)"), ("duplicates", "duplicates"), ("reconnects", "reconnects"), ("connect_failures", "connect failures")]:
    print(f"| (b) {label}, all rounds | {fmt(total('h1', 'tp', key))} | {fmt(total('h2', 'tp', key))} | |")
if ("h2", "idle-solo") in runs:
    solo = med("h2", "idle-solo", lambda r: r.get("server_rss_per_connection_bytes"))
    a = med("h1", "idle", lambda r: r.get("server_rss_per_connection_bytes"))
    print(f"| (a′) idle over HTTP/2 + TLS, one stream per TLS connection: server RSS per stream (bytes) | {fmt(a)} | {fmt(solo)} | {ratio(solo, a)} |")
print()
print("Raw lines from `ssehub-load`:")
print()
print("```")
for line in open(sys.argv[1]):
    print(line.rstrip("\n"))
print("```")
PY
} | tee "$results"
say "written to $results; server and load logs in $logs"
