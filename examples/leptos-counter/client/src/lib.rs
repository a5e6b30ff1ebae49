//! The browser half of the leptos-counter example: the counter of
//! leptos_sse's README, driven by the server through an ssehub signal.
//!
//! The page shows `Count: N`, where N is the server's
//! `hub.signal("counter", Count { value })`, live; its button asks the
//! server to add one (`POST /increment`). Built to wasm by `../build.sh`
//! and served by the `leptos-counter` server (see its docs).
//!
//! [`Count`] is shared with the server, which depends on this crate as a
//! library on the host.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use ssehub_leptos::{provide_sse, use_sse_signal};

/// The name of the server signal the page shows.
pub const SIGNAL: &str = "counter";

/// The counter's state, as the server's signal holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The count.
    pub value: u64,
}

/// The page: `Count: N`, live, and a button to add one.
#[component]
pub fn App() -> impl IntoView {
    provide_sse("/events");
    let count = use_sse_signal::<Count>(SIGNAL);
    view! {
        <h1>"Leptos counter over ssehub"</h1>
        <p id="count">"Count: " {move || count.get().value}</p>
        <button id="increment" on:click=move |_| increment()>"+1"</button>
    }
}

/// Asks the server to add one; the new count comes back over the signal.
fn increment() {
    #[cfg(target_arch = "wasm32")]
    if let Some(window) = web_sys::window() {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        // The answer is not needed: the signal brings the new value.
        let _ = window.fetch_with_str_and_init("/increment", &init);
    }
}

/// The wasm module's entry point: mounts [`App`] on the page's body.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(App);
}

/// `ssehub-leptos`'s README example, compiled as a doc test (that crate
/// depends on none of the others).
#[cfg(doctest)]
#[doc = include_str!("../../../../crates/ssehub-leptos/README.md")]
struct SsehubLeptosReadmeDoctests;
