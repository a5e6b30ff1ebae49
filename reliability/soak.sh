#!/usr/bin/env bash
# The soak of crates/ssehub-server/tests/soak.rs, longer: ROUNDS rounds
# (default 300) of the same churn against one `ssehub serve`, printing the
# process's memory, descriptors and tasks after each; fails if descriptors
# or tasks grow, or memory does not level off.
#
# Usage: reliability/soak.sh [ROUNDS] [HISTORY_EVENTS]
#
# HISTORY_EVENTS: the hub's `--history-events` (default: its own, 10,000).
# A round publishes 12 events, so 500 fill history by round 42 and the rest
# of the run shows memory with history full.
set -euo pipefail
cd "$(dirname "$0")/.."
export SSEHUB_SOAK_ROUNDS="${1:-300}"
if [ -n "${2:-}" ]; then
    export SSEHUB_SOAK_HISTORY_EVENTS="$2"
fi
exec cargo test -p ssehub-server --test soak -- --nocapture
