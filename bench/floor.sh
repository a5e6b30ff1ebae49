#!/usr/bin/env bash
# The kernel's floor under fan-out latency on this machine: one small write to
# each of N loopback sockets in turn, from one CPU, while a reader drains them
# on the other (as bench/run.sh pins the hub and the load generator).
# Usage: bench/floor.sh [N...]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
cargo build --release -p ssehub-bench --bin loopback-floor >&2
bin=${CARGO_TARGET_DIR:-target}/release/loopback-floor
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
port=18900
for n in "${@:-1000 10000}"; do
    for n1 in $n; do
        port=$((port + 1))
        taskset -c "$SERVER_CPU" "$bin" write --connections "$n1" --rounds "$(( 200000 / n1 ))" --port "$port" &
        writer=$!
        sleep 0.5
        taskset -c "$LOAD_CPU" "$bin" read --connections "$n1" --port "$port" &
        reader=$!
        wait "$writer"
        kill "$reader" 2>/dev/null || true
        wait "$reader" 2>/dev/null || true
    done
done
