# Shared by bench/run.sh, bench/tls.sh and bench/abuse.sh (sourced):
# messages, sizes, the file limit, and one server at a time ($server_pid)
# started and stopped.

say() { printf '==> %s\n' "$*" >&2; }

# scaled N: N * $SCALE, rounded, at least 1.
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s + 0.5); if (v < 1) v = 1; print v }'; }

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
