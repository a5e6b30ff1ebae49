# Shared by bench/run.sh, bench/peers.sh, bench/tls.sh, bench/abuse.sh,
# bench/scale.sh, bench/scale-out.sh and bench/cluster.sh (sourced):
# messages, reading the load tools' JSON lines, sizes, source addresses,
# the file limit, one server at a time ($server_pid) started and stopped,
# and several processes at once ($pids).

# run.sh's scenarios (peers.sh runs the same): their defaults, each
# overridable from the environment (see run.sh's usage).
SCALE=${SCALE:-1}
# Idle streams are held 20 s: past the first keep-alive (15 s on both
# servers), so that what a keep-alive leaves behind counts (before
# 2026-11-30 every ssehub stream kept a 128-byte queue buffer after it).
IDLE_SECONDS=${IDLE_SECONDS:-20}
TP_PUBLISHERS=${TP_PUBLISHERS:-4}
LAT1_RATE=${LAT1_RATE:-100}
LAT2_RATE=${LAT2_RATE:-10}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

say() { printf '==> %s\n' "$*" >&2; }

# field JSON KEY: a number from a one-line JSON object ("" if absent or null).
field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\)[,}].*/\1/p" <<<"$1"; }

# json_quotient JSON NUMERATOR DENOMINATOR FACTOR FORMAT: two fields of a
# one-line JSON object, NUMERATOR × FACTOR ÷ DENOMINATOR, printf-formatted
# ("" if either is missing or the denominator is 0).
json_quotient() {
    local n d
    n=$(field "$1" "$2")
    d=$(field "$1" "$3")
    if [ -z "$n" ] || [ -z "$d" ] || [ "$d" = 0 ]; then return 0; fi
    awk -v n="$n" -v d="$d" -v f="$4" -v fmt="$5" 'BEGIN { printf fmt, n * f / d }'
}

# source_args STREAMS FIRST: sets SOURCE_ARGS to the load generator's
# `--source-ip` for STREAMS streams: one loopback address per
# $STREAMS_PER_SOURCE streams, FIRST (e.g. 127.0.1.) followed by 1, 2, ...;
# empty when one address is enough. A client connecting from one address
# searches the ephemeral ports (28,232 here, the even ones first) for a free
# one, and past about 14,000 streams that search makes each connect slower:
# 19,000 streams to one hub took 6.6 s from one address, 1.8 s from two
# (docs/benchmarks.md#scale-current).
STREAMS_PER_SOURCE=${STREAMS_PER_SOURCE:-10000}
source_args() {
    local k i list=()
    SOURCE_ARGS=()
    k=$(( ($1 + STREAMS_PER_SOURCE - 1) / STREAMS_PER_SOURCE ))
    [ "$k" -gt 1 ] || return 0
    for i in $(seq "$k"); do list+=("$2$i"); done
    SOURCE_ARGS=(--source-ip "$(IFS=,; echo "${list[*]}")")
}

# scaled N: N * $SCALE, rounded, at least 1.
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s + 0.5); if (v < 1) v = 1; print v }'; }

# scenario_sizes: run.sh's connection and event counts, each times $SCALE.
scenario_sizes() {
    IDLE_CONNS=$(scaled "${IDLE_CONNS:-10000}")
    TP_CONNS=$(scaled "${TP_CONNS:-10000}")
    TP_EVENTS=$(scaled "${TP_EVENTS:-1000}")
    LAT1_CONNS=$(scaled "${LAT1_CONNS:-1000}")
    LAT1_EVENTS=$(scaled "${LAT1_EVENTS:-2000}")
    LAT2_CONNS=$(scaled "${LAT2_CONNS:-10000}")
    LAT2_EVENTS=$(scaled "${LAT2_EVENTS:-200}")
}

# raise_nofile NEED: each process needs a descriptor per connection, plus
# some; raises `ulimit -n` toward the hard limit and warns when short.
raise_nofile() {
    local need=$1 hard
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ]; then hard=1048576; fi
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
        ulimit -n "$(( need < hard ? need : hard ))" || true
    fi
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
        say "warning: ulimit -n is $(ulimit -n) (hard limit $hard), below the $need these sizes need"
    fi
}

server_pid=""

stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# wait_listening NAME LOG: waits until the server $server_pid logs
# "listening on" in LOG; a server that could not bind exits (and must not
# be mistaken for another one on that port): its log, and the script ends.
wait_listening() {
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        if grep -q "listening on" "$2"; then
            return 0
        fi
        sleep 0.1
    done
    say "$1 did not start; its log:"
    cat "$2" >&2
    exit 1
}

# Several processes at once (bench/cluster.sh, bench/scale-out.sh): each
# started one is added to $pids; stop_all ends them all. A script that uses
# them sets `trap stop_all EXIT` (and INT, TERM) after sourcing this file.
pids=()

stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

# wait_log PID FILE TEXT: until FILE holds TEXT (a started server says it
# listens); the process PID must stay alive meanwhile (one that could not
# bind its port exits), else its log is shown and the script ends.
wait_log() {
    for _ in $(seq 200); do
        grep -q "$3" "$2" 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    say "no '$3' in $2:"
    cat "$2" >&2
    exit 1
}

# start_hub PORT [ARGS...]: `ssehub serve` on PORT pinned to $SERVER_CPU,
# per-IP and rate limits off (one load process opens every stream), logging
# to $logs/hub-PORT.log; added to $pids once it listens.
start_hub() {
    local p=$1
    shift
    taskset -c "$SERVER_CPU" "$bin/ssehub" serve --listen "127.0.0.1:$p" \
        --max-connections-per-ip 0 --connect-rate 0 --publish-rate 0 "$@" \
        >"$logs/hub-$p.log" 2>&1 &
    pids+=($!)
    wait_log "$!" "$logs/hub-$p.log" "listening on"
}

# start_redis: a fresh Redis that keeps nothing on disk, on the next $port,
# pinned to $SERVER_CPU; sets $redis_port and $redis_pid (also in $pids).
redis_port=0
redis_pid=""
start_redis() {
    port=$((port + 1))
    redis_port=$port
    mkdir -p "$logs/redis-$redis_port"
    taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$redis_port" \
        --save "" --appendonly no --dir "$logs/redis-$redis_port" \
        >"$logs/redis-$redis_port.log" 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    wait_log "$redis_pid" "$logs/redis-$redis_port.log" "Ready to accept connections"
}
