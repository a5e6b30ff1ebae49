//! A [Leptos](https://leptos.dev) 0.8 client for ssehub's server signals:
//! typed Rust state that the server changes (`ssehub::Signal<T>`) and every
//! page sees live, as a Leptos [`ReadSignal`].
//!
//! Call [`provide_sse`] once, near the root of the app, with the URL of the
//! hub's event stream; then [`use_sse_signal`] in any component, once per
//! server signal. All the signals of a page share ONE `EventSource`, on
//! `URL?topic=A&topic=B`.
//!
//! ```no_run
//! use leptos::prelude::*;
//! use serde::Deserialize;
//! use ssehub_leptos::{provide_sse, use_sse_signal};
//!
//! /// The server's `hub.signal("counter", Count { value: 0 })`.
//! #[derive(Clone, Default, Deserialize)]
//! struct Count {
//!     value: i64,
//! }
//!
//! #[component]
//! fn App() -> impl IntoView {
//!     provide_sse("/events");
//!     let count = use_sse_signal::<Count>("counter");
//!     view! { <p>"Count: " {move || count.get().value}</p> }
//! }
//!
//! fn main() {
//!     leptos::mount::mount_to_body(App);
//! }
//! ```
//!
//! The server side, with the `axum` feature: [`axum::events_route`] serves
//! that `/events` over an `ssehub::Hub` (with the `actix` feature,
//! [`actix::events_route`] on actix-web). Any ssehub `/events` will do (the
//! `ssehub serve` binary's, say).
//!
//! # The client rule
//!
//! The wire format is ssehub's (see `docs/protocol.md`): a signal named N is
//! the topic N; its events have the type N and JSON data, first `{"v": V,
//! "snapshot": VALUE}`, then `{"v": V, "patch": [RFC 6902 operations]}` with
//! V one more each time. A snapshot replaces the value; a patch is applied
//! only when its V is exactly one more than the version held. Anything else
//! (a version gap or repeat, a patch that does not apply, data that is not
//! JSON) makes the client resync: it closes the `EventSource` and opens a new
//! one, without `Last-Event-ID`, which the hub answers with snapshots
//! (resyncs are limited to one a second). When the connection drops, the
//! browser reconnects by itself with `Last-Event-ID`: the hub replays the
//! patches missed, or sends `ssehub-reset` and snapshots. Only when the
//! browser gives up (an HTTP error) does the client open a new `EventSource`
//! itself, 5 seconds later. The same rule as `js/ssehub.js`.
//!
//! Signals asked for in the same task join the first open; a signal asked
//! for after the `EventSource` opened reopens it once, with all the topics
//! and without `Last-Event-ID` (so each signal gets a fresh snapshot). Two
//! [`use_sse_signal`] of the same name share their state. A signal's
//! listener goes away with its reactive owner (the component); the
//! `EventSource` closes when no signal of its URL is left.
//!
//! A value that does not deserialize into `T` leaves the Leptos signal as it
//! was and is reported on the browser console; the client stays in step with
//! the server's JSON, so the next change that fits shows.
//!
//! # Off the browser
//!
//! The client needs a browser: it runs on `wasm32`. On other targets (tests,
//! server-side code sharing the components) the crate compiles and
//! [`use_sse_signal`] returns a signal that keeps its initial value.
//!
//! # Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `axum` | no | [`axum::events_route`]: the `/events` route, over an `ssehub::Hub` (server side, not for wasm) |
//! | `actix` | no | [`actix::events_route`]: the same `/events`, as an actix-web resource (server side, not for wasm) |

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::sync::Arc;

use leptos::prelude::*;
use serde::de::DeserializeOwned;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(target_arch = "wasm32")]
mod client;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod state;

/// The event stream's URL, as [`provide_sse`] put it in the context.
#[derive(Clone, Debug)]
struct SseUrl(Arc<str>);

/// Makes the server signals of the hub at `url` (an event stream such as
/// `"/events"`, or `"https://hub.example/events?token=..."`) available to
/// [`use_sse_signal`] in this component and its children. Opens nothing by
/// itself: the `EventSource` opens with the first signal.
pub fn provide_sse(url: impl Into<String>) {
    provide_context(SseUrl(url.into().into()));
}

/// The server signal `name`, kept in sync with the server: its value starts
/// at `T::default()` and follows each snapshot and patch the hub sends.
/// Read-only: the server changes it.
///
/// # Panics
///
/// If no [`provide_sse`] was called in this component or an ancestor.
#[track_caller]
pub fn use_sse_signal<T>(name: &str) -> ReadSignal<T>
where
    T: DeserializeOwned + Default + Send + Sync + 'static,
{
    use_sse_signal_or(name, T::default())
}

/// Like [`use_sse_signal`], starting at `initial` until the first snapshot.
///
/// # Panics
///
/// If no [`provide_sse`] was called in this component or an ancestor.
#[track_caller]
pub fn use_sse_signal_or<T>(name: &str, initial: T) -> ReadSignal<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let Some(SseUrl(url)) = use_context::<SseUrl>() else {
        panic!(
            "ssehub-leptos: use_sse_signal({name:?}) without provide_sse: \
             call provide_sse(\"/events\") in a component above"
        );
    };
    let (read, write) = signal(initial);
    #[cfg(target_arch = "wasm32")]
    client::track(&url, name, write);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (url, write);
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
    struct Count {
        value: i64,
    }

    #[test]
    fn off_wasm_a_signal_keeps_its_initial_value() {
        let owner = Owner::new();
        owner.with(|| {
            provide_sse("/events");
            let count = use_sse_signal::<Count>("counter");
            assert_eq!(count.get_untracked(), Count::default());
            let named = use_sse_signal_or("name", "initial".to_owned());
            assert_eq!(named.get_untracked(), "initial");
        });
    }

    #[test]
    #[should_panic(expected = "without provide_sse")]
    fn a_signal_needs_provide_sse() {
        Owner::new().with(|| {
            let _ = use_sse_signal::<Count>("counter");
        });
    }
}
