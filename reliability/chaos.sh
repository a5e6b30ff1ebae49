#!/usr/bin/env bash
# The chaos run of crates/ssehub-server/tests/chaos.rs, longer: ROUNDS
# rounds (default 10, about 10 s each) of: kill -9 a hub and restart it,
# stall Redis (SIGSTOP) past the hub's write timeout, restart Redis, kill -9
# the other hub; a steady publisher retrying with idempotency keys and
# subscribers resuming at random on either hub. Fails on any accepted event
# lost or delivered twice, any 503 delivered, any answer slower than 10 s.
# Loopback only; needs redis-server (scripts/test installs it).
#
# Usage: reliability/chaos.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export SSEHUB_CHAOS_ROUNDS="${1:-10}"
exec cargo test -p ssehub-server --test chaos -- --nocapture
