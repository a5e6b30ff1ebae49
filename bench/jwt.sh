#!/usr/bin/env bash
# Authorization costs nothing per event: throughput of `ssehub serve` with a
# JWT key (every stream and publish carries a token, checked at connect and
# publish only) against the same hub without one, alternating, same run.
#
# Usage: bench/jwt.sh [ROUNDS]   (CONNS=10000 EVENTS=1000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
CONNS=${CONNS:-10000}
EVENTS=${EVENTS:-1000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
bin=${CARGO_TARGET_DIR:-target}/release
secret="bench-secret"
token=$(python3 - "$secret" <<'PY'
import base64, hashlib, hmac, json, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"ssehub": {"publish": ["bench"], "subscribe": ["bench"]}}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
PY
)
port=18400
run() { # NAME, then extra flags of `ssehub serve` and of `ssehub-load`
    local name=$1 serve_flags=$2 load_flags=$3
    port=$((port + 1))
    taskset -c 0 "$bin/ssehub" serve --listen "127.0.0.1:$port" --max-connections-per-ip 0 \
        --connect-rate 0 --publish-rate 0 $serve_flags 2>/dev/null &
    local pid=$!
    until curl -s "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
    local line
    line=$(taskset -c 1 "$bin/ssehub-load" --url "http://127.0.0.1:$port" --connections "$CONNS" \
        --events "$EVENTS" --server-pid "$pid" $load_flags 2>/dev/null | tail -1)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$name $line"
}
for _ in $(seq "$rounds"); do
    run open "" ""
    run jwt "--jwt-secret $secret" "--token $token"
done | tee /dev/stderr | python3 -c '
import json, sys, statistics
rates = {"open": [], "jwt": []}
for line in sys.stdin:
    name, _, js = line.partition(" ")
    d = json.loads(js)
    assert d["gaps"] == 0 and d["duplicates"] == 0, line
    rates[name].append(d["delivered_per_sec"])
o, j = statistics.median(rates["open"]), statistics.median(rates["jwt"])
print(f"median delivered events/s: without JWT {o:,.0f}, with JWT {j:,.0f}: {j / o:.3f}x ({(j / o - 1) * 100:+.1f}%)")
'
