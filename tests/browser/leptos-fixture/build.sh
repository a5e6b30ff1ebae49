#!/usr/bin/env bash
# Builds the fixture page of tests/browser/tests/leptos.rs to wasm, into
# tests/browser/leptos-fixture/pkg. Needs what examples/leptos-counter/build.sh
# needs (the wasm32 target, wasm-bindgen-cli at the Cargo.lock version);
# ./scripts/test installs both and runs this.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo build --locked --release --target wasm32-unknown-unknown -p ssehub-leptos-fixture
wasm-bindgen --target web --no-typescript \
    --out-dir tests/browser/leptos-fixture/pkg \
    "$target_dir/wasm32-unknown-unknown/release/ssehub_leptos_fixture.wasm"
echo "built tests/browser/leptos-fixture/pkg"
