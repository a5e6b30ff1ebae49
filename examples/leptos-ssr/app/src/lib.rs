//! The leptos-ssr example's app: a counter that the server renders with its
//! live value, the browser hydrates, and everyone changes: the page's button
//! (a Leptos server function), or any process over HTTP (`PUT
//! /signals/counter`).
//!
//! One crate, two builds: with `ssr` it is the server's app (the `leptos-ssr`
//! server renders [`App`] and runs [`increment`]); with `hydrate` it is the
//! wasm module that `../build.sh` builds, whose [`hydrate`] entry point
//! takes over the server's HTML.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use ssehub_leptos::{provide_sse, use_sse_signal};

/// The name of the server signal the page shows.
pub const SIGNAL: &str = "counter";

/// The counter's value, as the server signal holds it: `{"count": N}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The count.
    pub count: u64,
}

/// The page's body: the live count in `#count` and a button `#inc`.
///
/// On the server, `use_sse_signal` reads the signal from the `ssehub::Hub`
/// in the Leptos context, so the HTML already shows the count; in the
/// browser it continues from the version rendered.
#[component]
pub fn App() -> impl IntoView {
    provide_sse("/events");
    let count = use_sse_signal::<Count>(SIGNAL);
    let inc = ServerAction::<Increment>::new();
    view! {
        <h1>"Leptos SSR counter over ssehub"</h1>
        <p>"Count: " <span id="count">{move || count.get().count}</span></p>
        <button id="inc" on:click=move |_| {
            inc.dispatch(Increment {});
        }>"+1"</button>
    }
}

/// Adds one to the counter; the new count reaches every page over the
/// signal (the answer is the new count too). At `POST /api/increment`.
///
/// # Errors
///
/// If the server has no hub in its Leptos context, or the hub has shut down.
#[server(endpoint = "increment")]
pub async fn increment() -> Result<u64, ServerFnError> {
    let hub = use_context::<ssehub::Hub>()
        .ok_or_else(|| ServerFnError::new("no ssehub::Hub in the Leptos context"))?;
    let counter = hub
        .signal(SIGNAL, Count::default())
        .await
        .map_err(ServerFnError::new)?;
    let mut count = 0;
    counter
        .update(|c| {
            c.count += 1;
            count = c.count;
        })
        .await
        .map_err(ServerFnError::new)?;
    Ok(count)
}

/// The wasm module's entry point, called by the page's hydration script:
/// hydrates [`App`] over the server's HTML.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_body(App);
}
