#!/usr/bin/env bash
# The soak of crates/ssehub-server/tests/soak.rs, longer: ROUNDS rounds
# (default 300) of the same churn against one `ssehub serve`, printing the
# process's memory, descriptors and tasks after each; fails if descriptors
# or tasks grow, or memory does not level off.
#
# Usage: reliability/soak.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export SSEHUB_SOAK_ROUNDS="${1:-300}"
exec cargo test -p ssehub-server --test soak -- --nocapture
