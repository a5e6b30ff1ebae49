#!/usr/bin/env bash
# Builds the leptos-ssr page's wasm: compiles the app crate with its
# `hydrate` feature for wasm32-unknown-unknown, then runs wasm-bindgen, which
# writes the bundle (leptos_ssr_app.js and leptos_ssr_app_bg.wasm) to
# examples/leptos-ssr/pkg, where the server looks by default. The server
# renders the same app (its `ssr` feature) and its page loads this bundle to
# hydrate.
#
# Needs the wasm32-unknown-unknown target (`rustup target add
# wasm32-unknown-unknown`) and wasm-bindgen-cli at the version Cargo.lock pins
# for wasm-bindgen (`cargo install wasm-bindgen-cli --version X`);
# ./scripts/test installs both.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [ "$have" != "$want" ]; then
    echo "build.sh: wasm-bindgen $want is needed (Cargo.lock), found '${have:-none}':" >&2
    echo "  cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo build --locked --release --target wasm32-unknown-unknown -p leptos-ssr-app --features hydrate
wasm-bindgen --target web --no-typescript \
    --out-dir examples/leptos-ssr/pkg \
    "$target_dir/wasm32-unknown-unknown/release/leptos_ssr_app.wasm"
echo "built examples/leptos-ssr/pkg"
