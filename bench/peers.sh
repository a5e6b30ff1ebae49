#!/usr/bin/env bash
# Peers in the same harness (issue 18): ssehub, the baseline and the hubs
# people run instead, through bench/run.sh's scenarios, one after the other
# in the same run, with the same load generator (`ssehub-load`), the same
# payload and event counts, and the same loss/duplicate checks. Prints a
# markdown table with each peer's figures and its ratio to ssehub, writes it
# with the raw JSON lines to the results file, and plots it.
# See docs/benchmarks.md, "Peers in the same harness".
#
# Usage: bench/peers.sh [RESULTS_FILE]     (default: bench/results/peers-latest.md)
#        SCALE=0.1 bench/peers.sh /tmp/quick-peers.md
#
# The peers (PEERS, default all, in this order):
#   ssehub         `ssehub serve`
#   baseline       axum Sse + tokio broadcast (bench/src/bin/baseline-server.rs)
#   nchan          nginx + Nchan (Debian nginx-light, libnginx-mod-nchan): one
#                  worker; GET /events?topic=T is an nchan_subscriber
#                  (eventsource), POST /pub?topic=T an nchan_publisher
#   pushpin        Pushpin (Debian pushpin) in front of bench/peers/node/
#                  pushpin-origin.js, which holds each stream with GRIP
#                  (`Grip-Hold: stream`, `Grip-Channel: T`); publishes go to
#                  Pushpin's publish API (POST :CONTROL_PORT/publish)
#   better-sse     better-sse on Node's http (bench/peers/node/server.js)
#   sse-starlette  sse-starlette on uvicorn (bench/peers/python/app.py)
# What is missing is installed first: the Debian packages with apt-get (as
# root), better-sse with `npm ci` in bench/peers/node/ (package-lock.json),
# sse-starlette, uvicorn and matplotlib in a venv under ~/.cache/ssehub/
# (bench/peers/python/*requirements.txt, pinned).
#
# Every server (for Pushpin: its processes and the origin; for nginx: master
# and worker) runs pinned to CPU $SERVER_CPU, the load generator to
# $LOAD_CPU (taskset), each scenario on a freshly started server. Memory and
# CPU are summed over the server's processes (`ssehub-load --server-pid`
# takes several), as run.sh measures ssehub's: VmRSS after minus before,
# /proc/PID/stat CPU time.
#
# Sizes as in run.sh (each connection and event count multiplied by SCALE):
#   IDLE_CONNS=10000 IDLE_SECONDS=20                 (a) idle memory
#   TP_CONNS=10000 TP_EVENTS=1000 TP_PUBLISHERS=4    (b) throughput, as fast as possible
#   LAT1_CONNS=1000 LAT1_RATE=100 LAT1_EVENTS=2000   (c) latency at 100 events/s
#   LAT2_CONNS=10000 LAT2_RATE=10 LAT2_EVENTS=200    (c) latency at 10 events/s
#   PAYLOAD_BYTES=64 SERVER_CPU=0 LOAD_CPU=1 PORT_BASE=18500
# Also: PEERS, SSEHUB_SERVE_ARGS (extra flags of `ssehub serve`),
# RUN_TIMEOUT=600 (seconds one load run may take; past it the cell says so),
# NO_INSTALL=1 (do not install: a missing peer's cells say it is missing),
# FROM_RAW=RESULTS_FILE (run nothing: the table and plot again from that
# file's raw lines, e.g. after the notes changed; give the run's SCALE),
# PLOT=docs/img/peers.png (empty: no plot).
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-bench/results/peers-latest.md}
PORT_BASE=${PORT_BASE:-18500}
PEERS=${PEERS:-"ssehub baseline nchan pushpin better-sse sse-starlette"}
SSEHUB_SERVE_ARGS=${SSEHUB_SERVE_ARGS:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
NO_INSTALL=${NO_INSTALL:-}
PLOT=${PLOT-docs/img/peers.png}
VENV=${VENV:-$HOME/.cache/ssehub/peers-venv}
# Pushpin's handler passes each delivery (a message to one subscriber)
# through a rate limiter: message_rate (Debian's default 2500/s) caps
# deliveries, and past message_hwm (25000) queued it drops them. For a hub
# that fans out, both are lifted (0: no limit); the peer `pushpin-defaults`
# (not in the default PEERS) runs Debian's configuration unchanged.
PUSHPIN_MESSAGE_RATE=${PUSHPIN_MESSAGE_RATE:-0}
PUSHPIN_MESSAGE_HWM=${PUSHPIN_MESSAGE_HWM:-0}

# shellcheck source=bench/lib.sh
. bench/lib.sh
scenario_sizes

max_conns=$(printf '%s\n' "$IDLE_CONNS" "$TP_CONNS" "$LAT1_CONNS" "$LAT2_CONNS" | sort -n | tail -1)
raise_nofile $((max_conns + 256))
# What one process may hold (the hard limit; it cannot be raised here).
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576

root=$PWD
node_dir=$root/bench/peers/node
py_dir=$root/bench/peers/python

# ---------------------------------------------------------------- install
# MISSING[peer]: why a peer cannot run at all (its cells say so).
declare -A MISSING

apt_install() {
    say "installing with apt-get: $*"
    if [ "$(id -u)" != 0 ]; then
        say "not root: cannot apt-get install $*"
        return 1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >&2
}

wanted() { case " $PEERS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

install_peers() {
    local debs=() p
    wanted nchan && { dpkg -s nginx-light libnginx-mod-nchan >/dev/null 2>&1 || debs+=(nginx-light libnginx-mod-nchan); }
    { wanted pushpin || wanted pushpin-defaults; } && { dpkg -s pushpin >/dev/null 2>&1 || debs+=(pushpin); }
    if { wanted better-sse || wanted pushpin || wanted pushpin-defaults; } && ! command -v node >/dev/null; then debs+=(nodejs npm); fi
    if { wanted sse-starlette || [ -n "$PLOT" ]; } && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        debs+=(python3-venv)
    fi
    if [ ${#debs[@]} -gt 0 ]; then
        if [ -n "$NO_INSTALL" ] || ! apt_install "${debs[@]}"; then
            say "could not install ${debs[*]}"
        fi
    fi
    if wanted nchan && ! { command -v nginx >/dev/null && [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; }; then
        MISSING[nchan]="nginx or the Nchan module is not installed"
    fi
    if ! command -v pushpin >/dev/null; then
        MISSING[pushpin]="pushpin is not installed"
        MISSING[pushpin-defaults]=${MISSING[pushpin]}
    fi
    if wanted better-sse || wanted pushpin || wanted pushpin-defaults; then
        if ! command -v node >/dev/null; then
            for p in better-sse pushpin pushpin-defaults; do MISSING[$p]="node is not installed"; done
        elif wanted better-sse && [ ! -d "$node_dir/node_modules/better-sse" ]; then
            if [ -n "$NO_INSTALL" ] || ! (cd "$node_dir" && npm ci --no-audit --no-fund >&2); then
                MISSING[better-sse]="npm ci failed in bench/peers/node"
            fi
        fi
    fi
    if wanted sse-starlette || [ -n "$PLOT" ]; then
        if [ ! -x "$VENV/bin/python" ] && [ -z "$NO_INSTALL" ]; then
            mkdir -p "$(dirname "$VENV")"
            python3 -m venv "$VENV" >&2 || true
        fi
        local reqs=()
        wanted sse-starlette && reqs+=(-r "$py_dir/requirements.txt")
        [ -n "$PLOT" ] && reqs+=(-r "$py_dir/plot-requirements.txt")
        # pip checks the pins and installs only what is missing.
        if [ ! -x "$VENV/bin/python" ] || { [ -z "$NO_INSTALL" ] && ! "$VENV/bin/pip" install -q "${reqs[@]}" >&2; }; then
            say "could not set up the Python venv $VENV"
        fi
        if wanted sse-starlette && ! "$VENV/bin/python" -c 'import sse_starlette, uvicorn' 2>/dev/null; then
            MISSING[sse-starlette]="sse-starlette or uvicorn is not installed in $VENV"
        fi
    fi
}

FROM_RAW=${FROM_RAW:-}
if [ -z "$FROM_RAW" ]; then
    say "checking the peers' installs"
    install_peers
    say "building release binaries"
    cargo build --release -p ssehub-server -p ssehub-bench --bins >&2
fi
bin=${CARGO_TARGET_DIR:-target}/release

# ---------------------------------------------------------------- versions
version_of() {
    case $1 in
        ssehub) echo "ssehub $("$bin/ssehub" --version 2>/dev/null | awk '{print $NF}') (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))" ;;
        baseline) echo "axum $(grep -A1 '^name = "axum"$' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p' | head -1), tokio $(grep -A1 '^name = "tokio"$' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p' | head -1)" ;;
        nchan) echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||'), Nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null) (Debian)" ;;
        pushpin | pushpin-defaults) echo "Pushpin $(pushpin --version 2>/dev/null | awk '{print $NF}') (Debian $(dpkg-query -W -f '${Version}' pushpin 2>/dev/null), condure $(dpkg-query -W -f '${Version}' condure 2>/dev/null)); origin on Node $(node --version 2>/dev/null)" ;;
        better-sse) echo "better-sse $(node -p 'require("./bench/peers/node/node_modules/better-sse/package.json").version' 2>/dev/null) on Node $(node --version 2>/dev/null)" ;;
        sse-starlette)
            "$VENV/bin/python" - 2>/dev/null <<'PY' || echo "(not installed)"
import importlib.metadata as m, platform
v = {n: m.version(n) for n in ("sse-starlette", "starlette", "uvicorn", "uvloop", "httptools")}
print(f"sse-starlette {v['sse-starlette']}, starlette {v['starlette']}, uvicorn {v['uvicorn']} "
      f"(uvloop {v['uvloop']}, httptools {v['httptools']}) on CPython {platform.python_version()}")
PY
            ;;
    esac
}

# ---------------------------------------------------------------- servers
logs=$(mktemp -d "${TMPDIR:-/tmp}/ssehub-peers.XXXXXX")
port=$PORT_BASE
# The server's processes: server_pid (lib.sh stops it), extra_pids (stopped
# here: Pushpin's origin), measure_pids (summed RSS and CPU, comma-separated).
extra_pids=()
measure_pids=""
# Load generator flags that differ by peer.
peer_args=()

stop_all() {
    local p
    stop_server
    for p in "${extra_pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    extra_pids=()
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

# port_open PORT: whether something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ports LOG PORT...: until every port accepts, while $server_pid lives.
wait_ports() {
    local log=$1 p ok
    shift
    for _ in $(seq 150); do
        kill -0 "$server_pid" 2>/dev/null || break
        ok=1
        for p in "$@"; do port_open "$p" || { ok=; break; }; done
        [ -n "$ok" ] && return 0
        sleep 0.1
    done
    say "did not start; its log:"
    tail -n 20 "$log" >&2
    return 1
}

# descendants PID: PID and every process under it.
descendants() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" 2>/dev/null); do descendants "$c"; done
}

nginx_conf() {
    local dir=$1
    cat <<EOF
# nginx + Nchan for bench/peers.sh: one worker (the server has one CPU).
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections $nofile;
    multi_accept on;
}
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    tcp_nodelay on;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /events {
            nchan_subscriber eventsource;
            nchan_channel_id \$arg_topic;
        }
        location = /pub {
            nchan_publisher;
            nchan_channel_id \$arg_topic;
        }
    }
}
EOF
}

# pushpin_conf DIR CONTROL_PORT [RATE HWM]: Debian's pushpin.conf with this
# run's ports, and every ZeroMQ socket on IPC in DIR (no fixed TCP ports);
# with RATE and HWM, the handler's message_rate and message_hwm. Debian
# points the proxy at a system-wide zurl (/var/run/zurl, its own service),
# which reaches origins: here the runner starts a zurl of its own in DIR
# instead, as upstream's default configuration does (internal.conf copied
# with its zurl sockets moved to DIR).
pushpin_conf() {
    sed -e "s|ipc:///var/run/zurl/|ipc://{rundir}/{ipc_prefix}|" /usr/lib/pushpin/internal.conf >"$1/internal.conf"
    sed -e "s|^include=.*|include=$1/internal.conf|" \
        -e "s|^services=.*|services=condure,zurl,pushpin-proxy,pushpin-handler|" \
        -e "s|^rundir=.*|rundir=$1|" \
        -e "s|^logdir=.*|logdir=$1|" \
        -e "s|^http_port=.*|http_port=$port|" \
        -e "s|^push_in_http_port=.*|push_in_http_port=$2|" \
        -e "s|^push_in_spec=.*|push_in_spec=ipc://{rundir}/{ipc_prefix}push-in|" \
        -e "s|^push_in_sub_specs=.*|push_in_sub_specs=ipc://{rundir}/{ipc_prefix}push-in-sub|" \
        -e "s|^command_spec=tcp.*|command_spec=ipc://{rundir}/{ipc_prefix}handler-command|" \
        -e "s|^routesfile=.*|routesfile=$1/routes|" \
        ${3:+-e "s|^message_rate=.*|message_rate=$3|"} \
        ${4:+-e "s|^message_hwm=.*|message_hwm=$4|"} \
        /etc/pushpin/pushpin.conf
}

# start_peer NAME SCENARIO: a fresh server on a fresh port (so that no
# TIME_WAIT of an earlier scenario gets in the way), pinned to $SERVER_CPU.
start_peer() {
    local name=$1 scenario=$2 log dir
    port=$((port + 1))
    log="$logs/$name-$scenario.log"
    dir="$logs/$name-$scenario.d"
    mkdir -p "$dir"
    peer_args=()
    measure_pids=""
    # SSEHUB_SERVE_ARGS holds several words.
    # shellcheck disable=SC2206
    case $name in
        ssehub)
            taskset -c "$SERVER_CPU" "$bin/ssehub" serve --listen "127.0.0.1:$port" \
                --max-connections-per-ip 0 --connect-rate 0 --publish-rate 0 $SSEHUB_SERVE_ARGS >"$log" 2>&1 &
            server_pid=$!
            wait_ports "$log" "$port" || return 1
            ;;
        baseline)
            taskset -c "$SERVER_CPU" "$bin/baseline-server" --listen "127.0.0.1:$port" >"$log" 2>&1 &
            server_pid=$!
            wait_ports "$log" "$port" || return 1
            ;;
        nchan)
            mkdir -p "$dir"/{body,proxy,fastcgi,uwsgi,scgi}
            nginx_conf "$dir" >"$dir/nginx.conf"
            taskset -c "$SERVER_CPU" nginx -p "$dir" -c "$dir/nginx.conf" >"$log" 2>&1 &
            server_pid=$!
            wait_ports "$dir/error.log" "$port" || { cat "$log" >&2; return 1; }
            peer_args=(--publish-path "/pub?topic={topic}" --publish-format raw)
            ;;
        pushpin | pushpin-defaults)
            local origin_port=$((port + 1000)) control_port=$((port + 2000))
            taskset -c "$SERVER_CPU" node "$node_dir/pushpin-origin.js" --listen "127.0.0.1:$origin_port" >"$log.origin" 2>&1 &
            extra_pids+=($!)
            echo "* 127.0.0.1:$origin_port" >"$dir/routes"
            if [ "$name" = pushpin ]; then
                pushpin_conf "$dir" "$control_port" "$PUSHPIN_MESSAGE_RATE" "$PUSHPIN_MESSAGE_HWM" >"$dir/pushpin.conf"
            else
                pushpin_conf "$dir" "$control_port" >"$dir/pushpin.conf"
            fi
            taskset -c "$SERVER_CPU" pushpin --config "$dir/pushpin.conf" >"$log" 2>&1 &
            server_pid=$!
            wait_ports "$log" "$port" "$control_port" "$origin_port" || return 1
            # Ready once a stream is held through proxy, zurl and handler.
            local held=
            for _ in $(seq 20); do
                if [ "$(curl -s -o /dev/null -w '%{http_code}' -m 0.5 "http://127.0.0.1:$port/events?topic=probe" || true)" = 200 ]; then
                    held=1
                    break
                fi
                sleep 0.2
            done
            if [ -z "$held" ]; then
                say "pushpin: a probe stream was not held; its logs are in $dir"
                return 1
            fi
            measure_pids="$(descendants "$server_pid" | paste -sd,),${extra_pids[*]}"
            peer_args=(--publish-url "http://127.0.0.1:$control_port" --publish-format grip)
            ;;
        better-sse)
            taskset -c "$SERVER_CPU" node "$node_dir/server.js" --listen "127.0.0.1:$port" >"$log" 2>&1 &
            server_pid=$!
            wait_ports "$log" "$port" || return 1
            ;;
        sse-starlette)
            (cd "$py_dir" && exec taskset -c "$SERVER_CPU" "$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port "$port" \
                --no-access-log --backlog 4096 --loop uvloop --http httptools --log-level warning) >"$log" 2>&1 &
            server_pid=$!
            wait_ports "$log" "$port" || return 1
            ;;
        *) say "unknown peer $name"; exit 2 ;;
    esac
    if [ "$name" = nchan ]; then
        # Master and worker; the worker may come a moment after the socket.
        for _ in $(seq 50); do
            pgrep -P "$server_pid" >/dev/null && break
            sleep 0.1
        done
        measure_pids=$(descendants "$server_pid" | paste -sd,)
    fi
    [ -n "$measure_pids" ] || measure_pids=$server_pid
    # Each process of the server is pinned (children inherit it; checked).
    local p
    for p in ${measure_pids//,/ }; do
        taskset -cp "$p" 2>/dev/null | grep -q ": $SERVER_CPU\$" || say "warning: $name process $p is not pinned to CPU $SERVER_CPU"
    done
    return 0
}

# ---------------------------------------------------------------- runs

declare -A R     # R[peer,scenario]: the load generator's JSON line
declare -A WHY   # WHY[peer,scenario]: why there is no line
notes=()

# load NAME SCENARIO CONNECTIONS ARGS...: one run of the load generator
# against a fresh server.
load() {
    local name=$1 scenario=$2 conns=$3 out rc
    shift 3
    if [ -n "${MISSING[$name]:-}" ]; then
        WHY[$name,$scenario]=${MISSING[$name]}
        return
    fi
    # Every peer holds all its streams in one process (nginx: its one
    # worker; Pushpin: condure): one descriptor per stream, plus some.
    if [ $((conns + 64)) -gt "$nofile" ]; then
        WHY[$name,$scenario]="needs $((conns + 64)) descriptors in one process; the limit here is $nofile"
        return
    fi
    if ! start_peer "$name" "$scenario"; then
        WHY[$name,$scenario]="did not start (log: $logs/$name-$scenario.log)"
        stop_all
        return
    fi
    say "$name: $scenario: ssehub-load --connections $conns $* ${peer_args[*]}"
    rc=0
    timeout -s INT "$RUN_TIMEOUT" taskset -c "$LOAD_CPU" "$bin/ssehub-load" --url "http://127.0.0.1:$port" \
        --server-pid "$measure_pids" --payload-bytes "$PAYLOAD_BYTES" --connections "$conns" "$@" "${peer_args[@]}" \
        >"$logs/$name-$scenario.out" 2>>"$logs/$name-$scenario.load.log" || rc=$?
    out=$(tail -n 1 "$logs/$name-$scenario.out")
    stop_all
    printf '%s %s %s\n' "$name" "$scenario" "$out" | tee -a "$logs/raw.txt" >&2
    R[$name,$scenario]=$out
    if [ -n "$out" ] && [ "$(field "$out" connected)" = 0 ]; then
        # Nothing to measure: say why instead of a row of zeros.
        R[$name,$scenario]=""
        WHY[$name,$scenario]="no stream opened: $(grep -v '^$' "$logs/$name-$scenario.load.log" | grep -m1 -i 'error\|answered\|refused' || echo 'see the load log')"
    elif [ -z "$out" ]; then
        if [ "$rc" = 124 ]; then
            WHY[$name,$scenario]="did not finish within RUN_TIMEOUT=${RUN_TIMEOUT}s"
        else
            WHY[$name,$scenario]="load generator failed: $(grep -v '^$' "$logs/$name-$scenario.load.log" | tail -n 1)"
        fi
    fi
}

if [ -n "$FROM_RAW" ]; then
    # Re-render the table (and plot) of an earlier run from its raw lines,
    # with the same SCALE, instead of running anything.
    while read -r p k line; do
        R[$p,$k]=$line
    done < <(sed -n '/^```$/,/^```$/p' "$FROM_RAW" | grep -v '^```')
    PEERS=$(sed -n '/^```$/,/^```$/p' "$FROM_RAW" | grep -v '^```' | awk '{print $1}' | uniq | paste -sd' ')
    say "re-rendering $FROM_RAW (SCALE=$SCALE: pass the run's own)"
else
for s in $PEERS; do
    load "$s" idle "$IDLE_CONNS" --idle-seconds "$IDLE_SECONDS"
    load "$s" tp "$TP_CONNS" --events "$TP_EVENTS" --rate 0 --publishers "$TP_PUBLISHERS"
    load "$s" lat1 "$LAT1_CONNS" --events "$LAT1_EVENTS" --rate "$LAT1_RATE" --publishers 2
    load "$s" lat2 "$LAT2_CONNS" --events "$LAT2_EVENTS" --rate "$LAT2_RATE" --publishers 2
done
fi

# ---------------------------------------------------------------- table

# fmt V: as run.sh's table shows numbers.
fmt() { awk -v x="$1" 'BEGIN { if (x == int(x) && x < 1e15) printf "%d", x; else if (x >= 100) printf "%.0f", x; else printf "%.2f", x }'; }

# value PEER SCENARIO KEY DIVISOR: the figure, or "" if there is none.
value() {
    local v line=${R[$1,$2]:-}
    [ -n "$line" ] || return 0
    if [ "$3" = cpu_per_k ]; then
        json_quotient "$line" server_cpu_seconds events_delivered 1e9 "%.1f"
        return 0
    fi
    v=$(field "$line" "$3")
    [ -n "$v" ] && fmt "$(awk -v v="$v" -v d="$4" 'BEGIN { print v / d }')"
    return 0
}

# add_note TEXT: a numbered note below the table (once per text); its
# number in $note_no. (Not a command substitution: notes must stay in this
# shell.)
add_note() {
    local i
    for i in "${!notes[@]}"; do
        if [ "${notes[$i]}" = "$1" ]; then note_no=$((i + 1)); return; fi
    done
    notes+=("$1")
    note_no=${#notes[@]}
}

# NOTE_NO[peer,scenario]: the note that says why there is no figure;
# FLAG[peer,scenario]: notes on a run's figures (streams that did not open,
# events lost or duplicated), shown after each of its figures.
declare -A NOTE_NO FLAG
make_notes() {
    local p k line c n g d r
    for p in $PEERS; do
        for k in idle tp lat1 lat2; do
            if [ -n "${WHY[$p,$k]:-}" ]; then
                add_note "${WHY[$p,$k]}"
                NOTE_NO[$p,$k]=$note_no
            fi
            line=${R[$p,$k]:-}
            [ -n "$line" ] || continue
            c=$(field "$line" connected)
            n=$(field "$line" connections)
            if [ -n "$c" ] && [ "$c" != "$n" ]; then
                add_note "$p $k: only $c of $n streams opened (connect_failures); its figures are over those"
                FLAG[$p,$k]+="[$note_no]"
            fi
            # A latency scenario holds only if the server took the publishes
            # at the rate asked: ssehub-load stamps an event when it sends
            # it, so a server that answers publishes late (Nchan delivers
            # before it answers; a saturated process answers late) slows
            # the publishers, and its latency leaves that wait out.
            local rate=
            case $k in lat1) rate=$LAT1_RATE ;; lat2) rate=$LAT2_RATE ;; esac
            r=$(field "$line" published_per_sec)
            if [ -n "$rate" ] && [ -n "$r" ] && awk -v r="$r" -v t="$rate" 'BEGIN { exit !(r < 0.95 * t) }'; then
                add_note "$p $k: published only $r events/s of the $rate asked (the server answered publishes late: saturated at $(field "$line" delivered_per_sec) deliveries/s); its latency is at that lower rate and leaves the publishers' wait out, so it is not comparable"
                FLAG[$p,$k]+="[$note_no]"
            fi
            g=$(field "$line" gaps)
            d=$(field "$line" duplicates)
            if [ "${g:-0}" != 0 ] || [ "${d:-0}" != 0 ]; then
                add_note "$p $k: ${g:-0} events lost, ${d:-0} duplicates; its figures are over what arrived"
                FLAG[$p,$k]+="[$note_no]"
            fi
        done
    done
}

# cell PEER SCENARIO KEY DIVISOR BETTER: a figure with its ratio to ssehub
# (above 1: ssehub is better, as in run.sh), or why there is none.
cell() {
    local v s r
    v=$(value "$1" "$2" "$3" "$4")
    if [ -z "$v" ]; then
        if [ -n "${NOTE_NO[$1,$2]:-}" ]; then
            printf 'n/a [%s]' "${NOTE_NO[$1,$2]}"
        else
            printf 'n/a'
        fi
        return
    fi
    printf '%s' "$v"
    # A flagged figure gets its notes and no ratio: it is not comparable.
    if [ -n "${FLAG[$1,$2]:-}" ]; then
        printf ' %s' "${FLAG[$1,$2]}"
        return
    fi
    [ "$1" = ssehub ] && return
    s=$(value ssehub "$2" "$3" "$4")
    case $5 in
        lower) r=$(awk -v a="$v" -v b="$s" 'BEGIN { if (b != "" && b + 0 != 0) printf "%.2f", a / b }') ;;
        higher) r=$(awk -v a="$s" -v b="$v" 'BEGIN { if (a != "" && b + 0 != 0) printf "%.2f", a / b }') ;;
        *) r="" ;;
    esac
    [ -n "$r" ] && printf ' (%s×)' "$r"
    return 0
}

row() {
    local label=$1 p
    shift
    printf '| %s |' "$label"
    for p in $PEERS; do printf ' %s |' "$(cell "$p" "$@")"; done
    printf '\n'
}

table() {
    local p head sep
    head="| scenario / metric |"
    sep="|---|"
    for p in $PEERS; do head+=" $p |"; sep+="---|"; done
    cat <<EOF
# Peers in the same harness: ssehub, the baseline, nginx + Nchan, Pushpin, better-sse, sse-starlette

$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)'),
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')), $(uname -sr);
server on CPU $SERVER_CPU, load generator on CPU $LOAD_CPU; SCALE=$SCALE, payload $PAYLOAD_BYTES bytes; command: \`SCALE=$SCALE bench/peers.sh\`.
Each figure is followed by its ratio to ssehub, how many times better ssehub is (peer ÷ ssehub for costs, ssehub ÷ peer for rates): above 1 favours ssehub.
Gaps (events lost) and duplicates are counted by the load generator on every stream; they must be 0.

Versions:
EOF
    for p in $PEERS; do printf -- '- %s: %s\n' "$p" "$(version_of "$p")"; done
    printf '\n%s\n%s\n' "$head" "$sep"
    row "(a) idle, $IDLE_CONNS connections: server RSS per connection (bytes)" idle server_rss_per_connection_bytes 1 lower
    row "(b) throughput, $TP_CONNS subscribers, $TP_EVENTS events: delivered events/s" tp delivered_per_sec 1 higher
    row "(b) server CPU µs per 1,000 deliveries" tp cpu_per_k 1 lower
    row "(b) latency p99 (ms)" tp latency_p99_us 1000 lower
    row "(b) gaps (events lost)" tp gaps 1 ""
    row "(b) duplicates" tp duplicates 1 ""
    row "(b) reconnects" tp reconnects 1 ""
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: latency p50 (ms)" lat1 latency_p50_us 1000 lower
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: latency p99 (ms)" lat1 latency_p99_us 1000 lower
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: gaps" lat1 gaps 1 ""
    row "(c) $LAT1_RATE events/s to $LAT1_CONNS subscribers: duplicates" lat1 duplicates 1 ""
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: latency p50 (ms)" lat2 latency_p50_us 1000 lower
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: latency p99 (ms)" lat2 latency_p99_us 1000 lower
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: gaps" lat2 gaps 1 ""
    row "(c) $LAT2_RATE events/s to $LAT2_CONNS subscribers: duplicates" lat2 duplicates 1 ""
    if [ ${#notes[@]} -gt 0 ]; then
        printf '\nNotes:\n\n'
        for p in "${!notes[@]}"; do printf '%s. %s\n' "$((p + 1))" "${notes[$p]}"; done
    fi
    # shellcheck disable=SC2016 # literal backquotes: markdown
    printf '\nRaw lines from `ssehub-load`:\n\n```\n'
    for p in $PEERS; do
        for k in idle tp lat1 lat2; do
            printf '%s %s %s\n' "$p" "$k" "${R[$p,$k]:-}"
        done
    done
    printf '```\n'
}

mkdir -p "$(dirname "$results")"
make_notes
table >"$logs/table.md"
cp "$logs/table.md" "$results"
cat "$results"
if [ -n "$PLOT" ]; then
    if "$VENV/bin/python" bench/plot-peers.py "$results" "$PLOT" >&2; then
        say "plot: $PLOT"
    else
        say "no plot (bench/plot-peers.py failed)"
    fi
fi
say "written to $results; server and load logs in $logs"
