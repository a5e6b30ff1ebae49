//! A Leptos page for `tests/browser/tests/leptos.rs`, built to wasm by
//! `build.sh` next to this crate (`./scripts/test` runs it).
//!
//! At start it shows the server signals `a` (a number) and `b` (a string);
//! the button `#more` mounts a component showing `c` (a list of strings)
//! and `a` again: a signal asked for after the `EventSource` opened, and a
//! second reader of a signal already held. Each value is shown as JSON.

use leptos::prelude::*;
use ssehub_leptos::{provide_sse, use_sse_signal};

/// The page.
#[component]
pub fn Fixture() -> impl IntoView {
    provide_sse("/events");
    let a = use_sse_signal::<i64>("a");
    let b = use_sse_signal::<String>("b");
    let (more, set_more) = signal(false);
    view! {
        <p>"a: " <output id="a">{move || a.get()}</output></p>
        <p>"b: " <output id="b">{move || format!("{:?}", b.get())}</output></p>
        <button id="more" on:click=move |_| set_more.set(true)>"more"</button>
        <Show when=move || more.get()>
            <Late/>
        </Show>
    }
}

/// Mounted later: `c`, and `a` once more.
#[component]
fn Late() -> impl IntoView {
    let c = use_sse_signal::<Vec<String>>("c");
    let a = use_sse_signal::<i64>("a");
    view! {
        <p>"c: " <output id="c">{move || c.get().join(",")}</output></p>
        <p>"a again: " <output id="a2">{move || a.get()}</output></p>
    }
}

/// The wasm module's entry point: mounts [`Fixture`] on the body.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(Fixture);
}
